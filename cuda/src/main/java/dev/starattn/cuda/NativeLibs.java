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
