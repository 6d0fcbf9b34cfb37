package dev.starattn.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds and opens the native libraries: {@code libcuda.so.1} (installed with the driver) and
 * {@code libcublas.so} (CUDA toolkit: {@code $CUDA_HOME/lib64}, {@code /usr/local/cuda/lib64}, or the
 * {@code nvidia/cublas/lib} folder of a Python environment's site-packages, as PyTorch installs it).
 * {@code STARATTN_LIBCUDA} and {@code STARATTN_CUBLAS} name a file explicitly.
 */
final class NativeLibs {
    private NativeLibs() {}

    static SymbolLookup libcuda(Arena arena) {
        List<String> tried = new ArrayList<>();
        String env = System.getenv("STARATTN_LIBCUDA");
        List<String> names = new ArrayList<>();
        if (env != null && !env.isBlank()) names.add(env);
        names.add("libcuda.so.1");
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib",
                "/usr/lib/wsl/lib", "/usr/local/cuda/compat", "/usr/lib/aarch64-linux-gnu")) {
            names.add(dir + "/libcuda.so.1");
        }
        for (String n : names) {
            try {
                return SymbolLookup.libraryLookup(n, arena);
            } catch (IllegalArgumentException e) {
                tried.add(n);
            }
        }
        throw new CudaException("no NVIDIA driver found: libcuda.so.1 could not be loaded (tried " + String.join(", ", tried)
                + "); install the NVIDIA driver or set STARATTN_LIBCUDA to the library's path, or run with --device cpu");
    }

    static SymbolLookup libcublas(Arena arena) {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("STARATTN_CUBLAS");
        if (env != null && !env.isBlank()) candidates.add(Path.of(env));
        for (Path dir : cublasDirs()) {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().matches("libcublas\\.so(\\.\\d+)*"))
                        .sorted((a, b) -> b.getFileName().toString().length() - a.getFileName().toString().length())
                        .forEach(candidates::add);
            } catch (IOException | RuntimeException ignored) {
                // not there
            }
        }
        List<String> errors = new ArrayList<>();
        for (Path p : candidates) {
            try {
                // cuBLAS needs cuBLASLt beside it; load it first so that the dependency resolves
                // even where the folder is not on the loader's path.
                Path dir = p.toAbsolutePath().getParent();
                if (dir != null) {
                    try (Stream<Path> s = Files.list(dir)) {
                        s.filter(x -> x.getFileName().toString().matches("libcublasLt\\.so(\\.\\d+)*"))
                                .sorted((a, b) -> b.getFileName().toString().length() - a.getFileName().toString().length())
                                .findFirst().ifPresent(lt -> {
                                    try {
                                        SymbolLookup.libraryLookup(lt, arena);
                                    } catch (IllegalArgumentException ignored) {
                                        // cuBLAS will say what is missing
                                    }
                                });
                    } catch (IOException ignored) {
                        // no listing
                    }
                }
                return SymbolLookup.libraryLookup(p, arena);
            } catch (IllegalArgumentException e) {
                errors.add(p + ": " + e.getMessage());
            }
        }
        for (String n : List.of("libcublas.so", "libcublas.so.13", "libcublas.so.12")) {
            try {
                return SymbolLookup.libraryLookup(n, arena);
            } catch (IllegalArgumentException e) {
                errors.add(n);
            }
        }
        throw new CudaException("cuBLAS not found (libcublas.so in $CUDA_HOME/lib64, /usr/local/cuda/lib64 or a Python "
                + "environment's nvidia/cublas/lib; tried " + errors + "); set STARATTN_CUBLAS to its path");
    }

    /**
     * cuDNN 9 ({@code libcudnn.so.9}): {@code STARATTN_CUDNN}, then the folders searched for cuBLAS plus the
     * {@code nvidia/cudnn/lib} folder of Python environments (where PyTorch's nvidia-cudnn wheel puts it).
     * libcudnn.so.9 is a small dispatcher that dlopens its engine libraries (libcudnn_graph,
     * libcudnn_engines_precompiled, libcudnn_engines_runtime_compiled, libcudnn_heuristic, ...) by soname; they
     * are loaded here first from the same folder, so that this works where the folder is not on the loader's
     * path (a wheel's folder never is), and NVRTC (which the runtime-compiled engines need) likewise.
     */
    /** The cuDNN library file loaded (for logs), or null. */
    static volatile String cudnnPath;

    static SymbolLookup libcudnn(Arena arena) {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("STARATTN_CUDNN");
        if (env != null && !env.isBlank()) candidates.add(Path.of(env));
        // The newest cuDNN 9 found (a system package and PyTorch's wheel may both be there; versions from the
        // file the soname links to, or from the wheel's dist-info folder), first found first among equals.
        List<Path> found = new ArrayList<>();
        for (Path dir : cudnnDirs()) {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().matches("libcudnn\\.so\\.9(\\.\\d+)*"))
                        .sorted((a, b) -> a.getFileName().toString().length() - b.getFileName().toString().length())
                        .limit(1).forEach(found::add);
            } catch (IOException | RuntimeException ignored) {
                // not there
            }
        }
        found.sort((a, b) -> Long.compare(cudnnVersionOf(b), cudnnVersionOf(a)));
        candidates.addAll(found);
        List<String> errors = new ArrayList<>();
        for (Path p : candidates) {
            try {
                Path dir = p.toAbsolutePath().getParent();
                preload(arena, cublasDirs(), "libnvrtc\\.so\\.\\d+", "libnvrtc-builtins\\.so\\.\\d+(\\.\\d+)*");
                if (dir != null) {
                    // libcudnn_graph first: the others link against it.
                    preload(arena, List.of(dir), "libcudnn_graph\\.so\\.9", "libcudnn_engines_precompiled\\.so\\.9",
                            "libcudnn_engines_runtime_compiled\\.so\\.9", "libcudnn_heuristic\\.so\\.9", "libcudnn_ops\\.so\\.9",
                            "libcudnn_cnn\\.so\\.9", "libcudnn_adv\\.so\\.9");
                }
                SymbolLookup lib = SymbolLookup.libraryLookup(p, arena);
                cudnnPath = p.toString();
                return lib;
            } catch (IllegalArgumentException e) {
                errors.add(p + ": " + e.getMessage());
            }
        }
        for (String n : List.of("libcudnn.so.9", "libcudnn.so")) {
            try {
                return SymbolLookup.libraryLookup(n, arena);
            } catch (IllegalArgumentException e) {
                errors.add(n);
            }
        }
        throw new CudaException("cuDNN 9 not found (libcudnn.so.9 in $CUDA_HOME/lib64, /usr/local/cuda/lib64, "
                + "/usr/lib/x86_64-linux-gnu or a Python environment's nvidia/cudnn/lib; tried " + errors
                + "); install cuDNN 9 (pip install nvidia-cudnn-cu13, or the libcudnn9 package) or set STARATTN_CUDNN to its path");
    }

    /**
     * cuDNN's version (major * 10000 + minor * 100 + patch) judged from the files: the name the library's
     * soname link resolves to (libcudnn.so.9.14.0), else an nvidia_cudnn*.dist-info folder beside the
     * wheel's nvidia/ folder; 0 if neither says.
     */
    static long cudnnVersionOf(Path lib) {
        try {
            String real = lib.toRealPath().getFileName().toString();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("libcudnn\\.so\\.(\\d+)\\.(\\d+)\\.(\\d+)").matcher(real);
            if (m.matches()) return Long.parseLong(m.group(1)) * 10000 + Long.parseLong(m.group(2)) * 100 + Long.parseLong(m.group(3));
            Path sitePackages = lib.toAbsolutePath().getParent().getParent().getParent().getParent();  // .../nvidia/cudnn/lib/x
            try (Stream<Path> s = Files.list(sitePackages)) {
                return s.map(p -> p.getFileName().toString())
                        .map(n -> java.util.regex.Pattern.compile("nvidia_cudnn[a-z0-9_]*-(\\d+)\\.(\\d+)\\.(\\d+).*\\.dist-info").matcher(n))
                        .filter(java.util.regex.Matcher::matches)
                        .mapToLong(x -> Long.parseLong(x.group(1)) * 10000 + Long.parseLong(x.group(2)) * 100 + Long.parseLong(x.group(3)))
                        .max().orElse(0);
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Loads, in order, the first file matching each pattern in the first folder that has one (failures ignored). */
    private static void preload(Arena arena, List<Path> dirs, String... patterns) {
        for (String pattern : patterns) {
            boolean done = false;
            for (Path dir : dirs) {
                if (done) break;
                try (Stream<Path> s = Files.list(dir)) {
                    Path hit = s.filter(x -> x.getFileName().toString().matches(pattern)).sorted().findFirst().orElse(null);
                    if (hit != null) {
                        try {
                            SymbolLookup.libraryLookup(hit, arena);
                            done = true;
                        } catch (IllegalArgumentException ignored) {
                            // cuDNN will say what is missing
                        }
                    }
                } catch (IOException | RuntimeException ignored) {
                    // no listing
                }
            }
        }
    }

    static List<Path> cudnnDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        for (Path d : cublasDirs()) {
            String s = d.toString();
            if (s.endsWith("nvidia/cublas/lib")) dirs.add(d.getParent().getParent().resolve("cudnn/lib"));
            else if (s.endsWith("nvidia/cu13/lib")) dirs.add(d.getParent().getParent().resolve("cudnn/lib"));
            dirs.add(d);
        }
        return new ArrayList<>(dirs);
    }

    static List<Path> cublasDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String h = System.getenv(var);
            if (h != null && !h.isBlank()) {
                dirs.add(Path.of(h, "lib64"));
                dirs.add(Path.of(h, "lib"));
            }
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) for (String d : ld.split(":")) if (!d.isBlank()) dirs.add(Path.of(d));
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        // Python environments (PyTorch ships cuBLAS as the nvidia-cublas wheel).
        List<Path> roots = new ArrayList<>();
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null) roots.add(Path.of(venv, "lib"));
        for (String r : List.of("/usr/local/lib", "/usr/lib", "/opt/conda/lib", System.getProperty("user.home") + "/.local/lib")) {
            roots.add(Path.of(r));
        }
        try (Stream<Path> opt = Files.list(Path.of("/opt"))) {
            opt.forEach(o -> {
                roots.add(o.resolve(".venv/lib"));
                roots.add(o.resolve("venv/lib"));
                roots.add(o.resolve("lib"));
            });
        } catch (IOException | RuntimeException ignored) {
            // no /opt
        }
        for (Path root : roots) {
            try (Stream<Path> pys = Files.list(root)) {
                pys.filter(p -> p.getFileName().toString().startsWith("python3")).forEach(py -> {
                    for (String sp : List.of("site-packages", "dist-packages")) {
                        dirs.add(py.resolve(sp).resolve("nvidia/cublas/lib"));
                        dirs.add(py.resolve(sp).resolve("nvidia/cu13/lib"));
                    }
                });
            } catch (IOException | RuntimeException ignored) {
                // not there
            }
        }
        return new ArrayList<>(dirs);
    }
}
