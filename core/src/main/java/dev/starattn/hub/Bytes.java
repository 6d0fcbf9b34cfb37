package dev.starattn.hub;

import java.util.Locale;

/** Sizes as people read them: 1000-based units, as the Hub and huggingface_hub show them. */
public final class Bytes {
    private Bytes() {}

    public static String human(long bytes) {
        if (bytes < 1000) return bytes + " B";
        String[] units = {"kB", "MB", "GB", "TB", "PB"};
        double v = bytes;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
