package dev.starattn.attention;

import dev.starattn.tensor.NativeKernels;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * The prefill attention tile of {@link AttentionKernel} and the f16 key transpose in C
 * ({@code core/src/main/c/attention_tile.c}, in the library of {@link NativeKernels}). The Java
 * kernel reaches its speed only after C2 has compiled it: in a cold {@code starattn generate} of a
 * 2K prompt that took most of the first layer of the first chunk, and the second chunk's new branches
 * deoptimised it again. The C tile runs at speed from its first call and is the Java tile's arithmetic
 * operation for operation (same fmas, same fixed-order lane sums), so the two give the same bits;
 * it is used only where that holds: AVX-512 on the CPU and 16-float Java vectors, head size a multiple
 * of 16 (at most 1024), f32 or f16 values.
 *
 * <p>{@code -Dstarattn.prefillKernels=auto|native|java} (default auto): auto and native use it when
 * the library loads on such a CPU, java never does.
 */
final class NativeAttention {
    private NativeAttention() {}

    private static final MethodHandle TILE, KEYS;
    static final String DESCRIPTION;

    static {
        MethodHandle tile = null, keys = null;
        String desc;
        String mode = dev.starattn.config.Switches.prefillKernels().trim().toLowerCase(Locale.ROOT);
        if (!mode.equals("auto") && !mode.equals("native") && !mode.equals("java")) {
            System.err.println("starattn: starattn.prefillKernels takes auto, native or java, not '" + mode + "'; using auto");
            mode = "auto";
        }
        if (mode.equals("java")) {
            desc = "java";
        } else if (jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length() != 16) {
            desc = "java (the native tile matches the Java kernel's bits with 16-float vectors only)";
        } else {
            String[] why = new String[1];
            SymbolLookup l = NativeKernels.library(why);
            if (l == null) {
                desc = "java (the native kernels did not load: " + why[0] + ")";
            } else if (NativeKernels.level() < 2) {
                desc = "java (the native tile needs AVX-512)";
            } else {
                Linker linker = Linker.nativeLinker();
                var p = ValueLayout.ADDRESS;
                var i = ValueLayout.JAVA_INT;
                var j = ValueLayout.JAVA_LONG;
                // critical(true): the arguments are heap arrays; one call is a tile of up to 64 queries.
                tile = linker.downcallHandle(l.find("starattn_attention_tile").orElseThrow(),
                        FunctionDescriptor.of(j, p, i, i, p, i, i, p, i, i, p, j, p, i, i, i, i, ValueLayout.JAVA_FLOAT, p, p),
                        Linker.Option.critical(true));
                keys = linker.downcallHandle(l.find("starattn_f16_keys_transposed").orElseThrow(),
                        FunctionDescriptor.ofVoid(p, i, i, i, i, i, p, i, j), Linker.Option.critical(true));
                desc = "native (C, AVX-512)";
            }
        }
        TILE = tile;
        KEYS = keys;
        DESCRIPTION = desc;
    }

    /** False: every call takes the Java kernel (tests compare the two). */
    static volatile boolean enabled = true;

    /** Whether the native tile is there at all on this machine and build. */
    static boolean available() {
        return TILE != null;
    }

    /** Whether the tile of a call with this head size and value type runs here. */
    static boolean usable(int hd, KvType valueType) {
        return enabled && TILE != null && hd % 16 == 0 && hd <= 1024 && (valueType == KvType.F32 || valueType == KvType.F16);
    }

    /** Whether f16 keys are transposed here. */
    static boolean keysUsable() {
        return enabled && KEYS != null;
    }

    /**
     * The C twin of {@link PrefillTile}'s tile over keys [k0, k1) (k0 the first key of kT's tiles); writes
     * out's rows and ml (running max, then sums, nq each); returns the visible pairs.
     */
    static long tile(float[] q, int qStride, int qHeadOff, int[] qPos, int r0, int nq, int[] kPos, int k0, int k1,
                     float[] kT, long kTBase, Object values, boolean valuesF16, int vStride, int vCol, int hd, float scale,
                     float[] out, float[] ml) {
        MemorySegment v = valuesF16 ? MemorySegment.ofArray((short[]) values) : MemorySegment.ofArray((float[]) values);
        long n;
        try {
            n = (long) TILE.invokeExact(MemorySegment.ofArray(q), qStride, qHeadOff, MemorySegment.ofArray(qPos), r0, nq,
                    MemorySegment.ofArray(kPos), k0, k1, MemorySegment.ofArray(kT), kTBase, v, valuesF16 ? 1 : 0, vStride, vCol, hd,
                    scale, MemorySegment.ofArray(out), MemorySegment.ofArray(ml));
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (n < 0) throw new OutOfMemoryError("the native attention tile could not allocate its scratch");
        return n;
    }

    /** kt[ktOff + d * stride + j] = K[from + j][col + d] of an f16 plane (rows of rowSize halves). */
    static void keysTransposed(short[] k, int rowSize, int from, int n, int col, int hd, float[] kt, int stride, int ktOff) {
        try {
            KEYS.invokeExact(MemorySegment.ofArray(k), rowSize, from, n, col, hd, MemorySegment.ofArray(kt), stride, (long) ktOff);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
