package dev.starattn.tensor;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.zip.CRC32;

/**
 * Our Q8_0 decode kernel in C ({@code core/src/main/c/q8_0_matvec.c}, built by Maven when gcc is
 * present): integer dot products of Q8_0 weights with the activation quantized to int16 per block of
 * 32 (AVX-512 or AVX2, chosen by the library for the CPU it runs on; software prefetch ahead of the
 * weight stream, which the Vector API cannot express).
 * The library travels in the jar; it is copied once to the native cache folder (named by its CRC,
 * so a rebuilt one never meets a stale copy) and opened through FFM.
 *
 * <p>{@code -Dstarattn.decode=auto|native|java} (default auto): native when the library loads,
 * java to keep the f32 Vector API kernel. A library that cannot load gives the Java kernel and one
 * line in {@link #describe()}, never a failure.
 */
final class NativeQ8 {
    private NativeQ8() {}

    static final String RESOURCE = "native/linux-x86_64/libstarattn-q8.so";

    private record Lib(MethodHandle matvec, MethodHandle dequant, String description, SymbolLookup lookup) {}

    private static volatile Lib lib;
    private static volatile boolean enabled;
    private static volatile String description;

    static {
        try {
            select(dev.starattn.config.Switches.decodeKernel());
        } catch (IllegalArgumentException e) {
            System.err.println("starattn: " + e.getMessage() + "; using auto");
            select("auto");
        }
    }

    /** Whether decode products of Q8_0 weights run the native kernel now. */
    static boolean active() {
        return enabled;
    }

    /** One line: which kernel runs batch-1 Q8_0 products. */
    static String describe() {
        return description;
    }

    /** Chooses the kernel: auto or native (the C kernel when it loads) or java; returns {@link #describe()}. */
    static synchronized String select(String mode) {
        String m = mode == null ? "auto" : mode.trim().toLowerCase(Locale.ROOT);
        if (!m.equals("auto") && !m.equals("native") && !m.equals("java")) {
            throw new IllegalArgumentException("starattn.decode takes auto, native or java, not '" + mode + "'");
        }
        if (m.equals("java")) {
            enabled = false;
            description = JAVA;
            return description;
        }
        try {
            if (lib == null) lib = load();
            enabled = true;
            description = lib.description;
        } catch (Exception | LinkageError e) {
            enabled = false;
            description = JAVA + " (the native kernel did not load: " + e.getMessage() + ")";
        }
        return description;
    }

    static final String JAVA = "java (Vector API, f32 dequantize-and-dot)";

    /**
     * The library's symbols, loading it if needed whatever the decode mode (the library holds other
     * kernels too, e.g. the prefill attention tile); null with the reason in {@code why[0]} when it cannot load.
     */
    static synchronized SymbolLookup library(String[] why) {
        try {
            if (lib == null) lib = load();
            return lib.lookup;
        } catch (Exception | LinkageError e) {
            why[0] = e.getMessage();
            return null;
        }
    }

    /**
     * out[outOff + r - r0] = W[r] . x for rows [r0, r1) of a Q8_0 matrix, x given quantized
     * ({@link Int16Activation}). The segments may live on the heap: the call is critical.
     */
    static void matvec(MemorySegment w, long rowBytes, int r0, int r1, int cols, Int16Activation x, float[] out, int outOff) {
        try {
            lib.matvec.invokeExact(w, rowBytes, r0, r1, cols, MemorySegment.ofArray(x.q),
                    MemorySegment.ofArray(x.d), MemorySegment.ofArray(out).asSlice((long) outOff * Float.BYTES));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * The C dequantization of Q8_0 rows when the library loads (whatever the decode mode: it gives the
     * Java kernel's bits), else null. For the prefill GEMM: the Java one runs boxed vectors until C2 has compiled it.
     */
    static final MethodHandle DEQUANT = dequantHandle();

    private static MethodHandle dequantHandle() {
        if ("java".equals(dev.starattn.config.Switches.prefillKernels().trim().toLowerCase(Locale.ROOT))) return null;
        SymbolLookup l = library(new String[1]);
        return l == null ? null : lib.dequant;
    }

    /** dst[off ..] = rows [r0, r1) of a Q8_0 matrix in f32, by {@link #DEQUANT} (non-null). */
    static void dequantize(MemorySegment w, long rowBytes, int r0, int r1, int cols, float[] dst, int off) {
        try {
            DEQUANT.invokeExact(w, rowBytes, r0, r1, cols, MemorySegment.ofArray(dst).asSlice((long) off * Float.BYTES));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static Lib load() throws Exception {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsupportedOperationException("it is built for linux-x86_64 only, this is " + os + "/" + arch);
        }
        byte[] bytes;
        try (InputStream in = NativeQ8.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) throw new IOException("this build has none (gcc was not found at build time)");
            bytes = in.readAllBytes();
        }
        CRC32 crc = new CRC32();
        crc.update(bytes);
        String name = String.format("libstarattn-q8-%08x.so", crc.getValue());
        IOException first = null;
        for (Path dir : dev.starattn.cpu.NativeCacheDirs.candidates()) {
            Path target = dir.resolve(name);
            try {
                if (!Files.isRegularFile(target) || Files.size(target) != bytes.length) {
                    Files.createDirectories(dir);
                    Path tmp = Files.createTempFile(dir, name, ".part");
                    try {
                        Files.write(tmp, bytes);
                        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    } finally {
                        Files.deleteIfExists(tmp);
                    }
                }
            } catch (IOException e) {
                if (first == null) first = e;
                continue;
            }
            try {
                return open(target);
            } catch (Exception | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
        throw new IOException("cannot copy it to a cache folder: " + first.getMessage(), first);
    }

    private static Lib open(Path path) throws Throwable {
        SymbolLookup l = SymbolLookup.libraryLookup(path, Arena.global());
        Linker linker = Linker.nativeLinker();
        var p = ValueLayout.ADDRESS;
        var i = ValueLayout.JAVA_INT;
        MethodHandle level = linker.downcallHandle(l.find("starattn_q8_level").orElseThrow(), FunctionDescriptor.of(i));
        // critical(true): the activation and output are heap arrays; a call takes microseconds.
        MethodHandle mv = linker.downcallHandle(l.find("starattn_q8_matvec").orElseThrow(),
                FunctionDescriptor.ofVoid(p, ValueLayout.JAVA_LONG, i, i, i, p, p, p), Linker.Option.critical(true));
        int lv = (int) level.invokeExact();
        String isa = switch (lv) {
            case 2 -> "AVX-512";
            case 1 -> "AVX2";
            default -> "portable C";
        };
        MethodHandle dq = linker.downcallHandle(l.find("starattn_q8_dequant").orElseThrow(),
                FunctionDescriptor.ofVoid(p, ValueLayout.JAVA_LONG, i, i, i, p), Linker.Option.critical(true));
        return new Lib(mv, dq, "native (C, q8_0 x int16 integer dot products, " + isa + ")", l);
    }
}
