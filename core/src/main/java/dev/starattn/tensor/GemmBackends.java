package dev.starattn.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.function.Consumer;

/**
 * Chooses which engine runs the batched (prefill) matrix products: the Java kernel ({@link Gemm})
 * or a {@link GemmBackend} found on the class path (the {@code blas} module: OpenBLAS through FFM).
 *
 * <p>{@code -Dstarattn.gemm=auto|native|java} (default {@code auto}): {@code auto} uses a native
 * backend when one is on the class path and loads, {@code native} asks for one, {@code java} never
 * uses one. A backend that is asked for (or found) but cannot load gives one line on stderr and
 * the Java kernel, never a failure. Batches of fewer than {@code -Dstarattn.gemm.minBatch} tokens
 * (default {@value #DEFAULT_MIN_BATCH}) always run the Java kernel, and so does decode (batch 1).
 */
public final class GemmBackends {
    private GemmBackends() {}

    /** Below this many tokens a chunk stays on the Java kernel (see BENCHMARKS.md for the crossover). */
    public static final int DEFAULT_MIN_BATCH = 128;

    /** What was chosen: the backend (null = Java kernel) and one line saying so. */
    record Choice(GemmBackend backend, String description) {}

    private static volatile Choice choice;
    private static volatile int minBatch = Math.max(2, dev.starattn.config.Switches.gemmMinBatch());

    /** The backend for a batch of {@code batch} tokens, or null for the Java kernel. */
    static GemmBackend forBatch(int batch) {
        if (batch < minBatch) return null;
        Choice c = choice;
        if (c == null) c = init();
        return c.backend;
    }

    private static synchronized Choice init() {
        if (choice == null) {
            String mode = dev.starattn.config.Switches.gemm();
            try {
                choice = resolve(mode, providers(), GemmBackends::log);
            } catch (IllegalArgumentException e) {
                log(e.getMessage() + "; using auto");
                choice = resolve("auto", providers(), GemmBackends::log);
            }
        }
        return choice;
    }

    /**
     * Selects the engine now ({@code auto}, {@code native} or {@code java}, as {@code -Dstarattn.gemm})
     * and returns one line describing it, e.g. for a benchmark's output.
     */
    public static synchronized String select(String mode) {
        choice = resolve(mode, providers(), GemmBackends::log);
        return choice.description;
    }

    /** Which engine runs batched products now (initialising the default choice if needed). */
    public static String describe() {
        Choice c = choice;
        if (c == null) c = init();
        return c.description;
    }

    /** True when a native backend is in use for batches of at least {@link #minBatch()} tokens. */
    public static boolean nativeActive() {
        Choice c = choice;
        if (c == null) c = init();
        return c.backend != null;
    }

    /** Puts {@code c} in place and returns what was there (tests). */
    static synchronized Choice install(Choice c) {
        Choice old = choice;
        choice = c;
        return old;
    }

    public static int minBatch() {
        return minBatch;
    }

    /** Batches of fewer tokens run the Java kernel (at least 2: decode never goes native). */
    public static void setMinBatch(int tokens) {
        minBatch = Math.max(2, tokens);
    }

    private static void log(String line) {
        System.err.println("starattn: " + line);
    }

    private static List<GemmBackend.Provider> providers() {
        List<GemmBackend.Provider> list = new ArrayList<>();
        try {
            for (GemmBackend.Provider p : ServiceLoader.load(GemmBackend.Provider.class, GemmBackends.class.getClassLoader())) {
                list.add(p);
            }
        } catch (ServiceConfigurationError e) {
            log("a native GEMM provider on the class path is broken (" + e.getMessage() + "); prefill uses the Java kernel");
        }
        return list;
    }

    static final String JAVA = "java (Vector API kernel)";

    /** The choice for {@code mode} among {@code providers}; {@code log} gets the one line a fallback prints. */
    static Choice resolve(String mode, List<GemmBackend.Provider> providers, Consumer<String> log) {
        String m = mode == null ? "auto" : mode.trim().toLowerCase(Locale.ROOT);
        switch (m) {
            case "java":
                return new Choice(null, JAVA);
            case "auto":
            case "native":
                break;
            default:
                throw new IllegalArgumentException("starattn.gemm takes auto, native or java, not '" + mode + "'");
        }
        GemmBackend.Provider p = providers.stream().filter(x -> x.name().equals("native")).findFirst().orElse(null);
        if (p == null) {
            if (m.equals("native")) log.accept("no native GEMM on the class path (module starattn-blas); prefill uses the Java kernel");
            return new Choice(null, JAVA);
        }
        try {
            GemmBackend b = p.open();
            return new Choice(b, "native: " + b.describe());
        } catch (Exception | LinkageError e) {
            log.accept("the native GEMM could not be loaded (" + e.getMessage() + "); prefill uses the Java kernel");
            return new Choice(null, JAVA + ", native unavailable");
        }
    }
}
