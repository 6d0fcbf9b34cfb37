package dev.starattn.attention;

import dev.starattn.format.Printable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.function.Consumer;

/**
 * Chooses the {@link AttentionBackend} of the CPU hosts: the Vector API kernel ({@link #CPU}) or a
 * provider on the class path named by {@code -Dstarattn.attention=NAME} (default {@code java}: the
 * Vector API kernel). A name that no provider has, or a provider that cannot load, gives one line
 * on stderr and the Vector API kernel, never a failure (as {@code -Dstarattn.gemm} does).
 */
public final class AttentionBackends {
    private AttentionBackends() {}

    /** The Vector API kernel on the CPU ({@link AttentionKernel}): the default and the fallback. */
    public static final AttentionBackend CPU = new AttentionBackend() {
        @Override
        public String describe() {
            return "java (Vector API kernel)";
        }

        @Override
        public Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1) {
            return AttentionKernel.attend(q, rows, qPos, heads, kv, k0, k1);
        }
    };

    private static volatile AttentionBackend current;

    /** The backend in use (choosing it from {@code -Dstarattn.attention} on first use). */
    public static AttentionBackend current() {
        AttentionBackend b = current;
        return b != null ? b : init();
    }

    private static synchronized AttentionBackend init() {
        if (current == null) current = resolve(dev.starattn.config.Switches.attention(), providers(), AttentionBackends::log);
        return current;
    }

    /** Puts {@code b} in place (null: choose again on next use) and returns what was there (tests). */
    public static synchronized AttentionBackend install(AttentionBackend b) {
        AttentionBackend old = current;
        current = b;
        return old;
    }

    private static void log(String line) {
        System.err.println("starattn: " + line);
    }

    private static List<AttentionBackend.Provider> providers() {
        List<AttentionBackend.Provider> list = new ArrayList<>();
        try {
            for (AttentionBackend.Provider p : ServiceLoader.load(AttentionBackend.Provider.class, AttentionBackends.class.getClassLoader())) {
                list.add(p);
            }
        } catch (ServiceConfigurationError e) {
            log("an attention backend on the class path is broken (" + e.getMessage() + "); attention uses the Java kernel");
        }
        return list;
    }

    /** The backend {@code name} selects among {@code providers}; {@code log} gets the one line a fallback prints. */
    static AttentionBackend resolve(String name, List<AttentionBackend.Provider> providers, Consumer<String> log) {
        String n = name == null ? "java" : name.trim().toLowerCase(Locale.ROOT);
        if (n.equals("java")) return CPU;
        AttentionBackend.Provider p = providers.stream().filter(x -> x.name().equals(n)).findFirst().orElse(null);
        if (p == null) {
            List<String> names = new ArrayList<>(List.of("java"));
            providers.forEach(x -> names.add(x.name()));
            log.accept("starattn.attention takes " + String.join(", ", names) + ", not " + Printable.quote(name) + "; attention uses the Java kernel");
            return CPU;
        }
        try {
            return p.open();
        } catch (Exception | LinkageError e) {
            log.accept("the attention backend " + Printable.quote(n) + " could not be loaded (" + e.getMessage() + "); attention uses the Java kernel");
            return CPU;
        }
    }
}
