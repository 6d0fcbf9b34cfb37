package dev.starattn.cpu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where native libraries shipped inside jars (OpenBLAS, our Q8_0 decode kernel) are copied before
 * they are loaded, in order of preference: {@code -Dstarattn.native.dir} alone when set, else
 * {@code $XDG_CACHE_HOME/starattn/native}, {@code ~/.cache/starattn/native}, and a per-user folder
 * in the temporary directory (for a home that cannot be written).
 */
public final class NativeCacheDirs {
    private NativeCacheDirs() {}

    public static List<Path> candidates() {
        List<Path> bases = new ArrayList<>();
        String explicit = dev.starattn.config.Switches.nativeDir();
        if (explicit != null && !explicit.isBlank()) {
            bases.add(Path.of(explicit));
            return bases;
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) bases.add(Path.of(xdg, "starattn", "native"));
        String home = System.getProperty("user.home");
        if (home != null && !home.isBlank()) bases.add(Path.of(home, ".cache", "starattn", "native"));
        bases.add(Path.of(System.getProperty("java.io.tmpdir"), "starattn-native-" + System.getProperty("user.name", "user")));
        return bases;
    }
}
