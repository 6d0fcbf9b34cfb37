package dev.starattn.blas;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Properties;

/**
 * OpenBLAS through FFM. The shared library comes from the {@code org.bytedeco:openblas} jar for
 * linux-x86_64 (only its .so files are used: no JavaCPP class, no JNI): it is copied once into a
 * cache folder ({@code -Dstarattn.native.dir}, else {@code $XDG_CACHE_HOME/starattn/native}, else
 * {@code ~/.cache/starattn/native}, else the temp folder), one sub-folder per artifact version,
 * next to the libgfortran, libquadmath and libgcc_s it needs (libopenblas.so.0 has the run path
 * {@code $ORIGIN}), and opened with {@link SymbolLookup#libraryLookup(Path, Arena)}.
 */
final class OpenBlas {
    static final String RESOURCES = "org/bytedeco/openblas/linux-x86_64/";
    /** Dependencies first; libopenblas.so.0 finds them in its own folder. */
    static final String[] FILES = {"libgcc_s.so.1", "libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0"};
    static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    final String artifactVersion;
    final Path library;
    private final MethodHandle sgemm, setThreads, getThreads;
    final String corename, config;

    private OpenBlas(String artifactVersion, Path library, SymbolLookup lib) throws Throwable {
        this.artifactVersion = artifactVersion;
        this.library = library;
        Linker linker = Linker.nativeLinker();
        ValueLayout.OfInt i = ValueLayout.JAVA_INT;
        ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
        var p = ValueLayout.ADDRESS;
        // critical(true): the arguments may be heap segments (the activations are float[]); the call
        // runs without a thread-state transition, so no GC moves them while OpenBLAS reads and writes.
        sgemm = linker.downcallHandle(find(lib, "cblas_sgemm"),
                FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, p, i, p, i, f, p, i), Linker.Option.critical(true));
        setThreads = linker.downcallHandle(find(lib, "openblas_set_num_threads"), FunctionDescriptor.ofVoid(i));
        getThreads = linker.downcallHandle(find(lib, "openblas_get_num_threads"), FunctionDescriptor.of(i));
        MethodHandle core = linker.downcallHandle(find(lib, "openblas_get_corename"), FunctionDescriptor.of(p));
        MethodHandle conf = linker.downcallHandle(find(lib, "openblas_get_config"), FunctionDescriptor.of(p));
        corename = ((MemorySegment) core.invokeExact()).reinterpret(256).getString(0);
        config = ((MemorySegment) conf.invokeExact()).reinterpret(1024).getString(0).trim();
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libopenblas has no symbol " + name));
    }

    /** Extracts (once) and opens the library; throws with a readable message when it cannot. */
    static OpenBlas load() throws Exception {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new UnsupportedOperationException("the OpenBLAS library is shipped for linux-x86_64 only, this is " + os + "/" + arch);
        }
        ClassLoader cl = OpenBlas.class.getClassLoader();
        String version = artifactVersion(cl);
        IOException first = null;
        for (Path base : dev.starattn.cpu.NativeCacheDirs.candidates()) {
            Path dir = base.resolve("openblas-" + version);
            try {
                for (String f : FILES) extract(cl, RESOURCES + f, dir.resolve(f));
            } catch (IOException e) {
                if (first == null) first = e;
                continue;
            }
            return open(version, dir.resolve("libopenblas.so.0"));
        }
        throw new IOException("cannot copy libopenblas to a cache folder: " + first.getMessage(), first);
    }

    private static OpenBlas open(String version, Path lib) throws Exception {
        try {
            return new OpenBlas(version, lib, SymbolLookup.libraryLookup(lib, Arena.global()));
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static String artifactVersion(ClassLoader cl) throws IOException {
        try (InputStream in = cl.getResourceAsStream("META-INF/maven/org.bytedeco/openblas/pom.properties")) {
            if (in == null) {
                if (cl.getResource(RESOURCES + "libopenblas.so.0") == null) {
                    throw new IOException("org.bytedeco:openblas (linux-x86_64) is not on the class path");
                }
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        }
    }

    /** Copies a class-path resource to {@code target} unless a file of its size is there (written by rename, so never half). */
    private static void extract(ClassLoader cl, String resource, Path target) throws IOException {
        URL url = cl.getResource(resource);
        if (url == null) throw new IOException("resource " + resource + " is not on the class path");
        URLConnection conn = url.openConnection();
        conn.setUseCaches(false); // do not keep the (shaded, large) jar open through the URL cache
        long size = conn.getContentLengthLong();
        if (size >= 0 && Files.isRegularFile(target) && Files.size(target) == size) return;
        Files.createDirectories(target.getParent());
        Path tmp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".part");
        try {
            try (InputStream in = conn.getInputStream()) {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            if (size >= 0 && Files.size(tmp) != size) {
                throw new IOException("copied " + Files.size(tmp) + " bytes of " + resource + ", expected " + size);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    void setThreads(int n) {
        try {
            setThreads.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    int threads() {
        try {
            return (int) getThreads.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Row-major {@code C[m x n] = A[m x k] . B[n x k]^T} (B is given row-major as n rows of k, i.e.
     * transposed), with leading dimensions {@code lda, ldb, ldc}. Segments may be heap or native.
     */
    void sgemmNT(int m, int n, int k, MemorySegment a, int lda, MemorySegment b, int ldb, MemorySegment c, int ldc) {
        try {
            sgemm.invokeExact(ROW_MAJOR, NO_TRANS, TRANS, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
