package dev.starattn.config;

import java.util.Locale;

/**
 * Parses the raw text of one {@code -Dstarattn.*} system property. Unset (null) gives the default;
 * anything else must parse, or the switch fails with one sentence naming it, the values it takes
 * and what it got, so that a mistyped switch is never silently replaced by its default.
 */
final class SwitchValues {
    private SwitchValues() {}

    /**
     * A 32-bit integer of at least {@code min}; {@code what} says which ("a positive integer").
     * Decoded as {@link Integer#getInteger} decodes (so 0x10 and 010 keep the meanings they had).
     */
    static int integer(String name, String raw, int dflt, int min, String what) {
        if (raw == null) return dflt;
        try {
            int v = Integer.decode(raw.strip());
            if (v >= min) return v;
        } catch (NumberFormatException e) {
            // falls through to the sentence below
        }
        throw invalid(name, what, raw);
    }

    /** A 64-bit integer of at least {@code min}, decoded as {@link Long#getLong} decodes. */
    static long longInteger(String name, String raw, long dflt, long min, String what) {
        if (raw == null) return dflt;
        try {
            long v = Long.decode(raw.strip());
            if (v >= min) return v;
        } catch (NumberFormatException e) {
            // falls through to the sentence below
        }
        throw invalid(name, what, raw);
    }

    /** {@code true} or {@code false}, in any case. */
    static boolean bool(String name, String raw, boolean dflt) {
        if (raw == null) return dflt;
        return switch (raw.strip().toLowerCase(Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw invalid(name, "true or false", raw);
        };
    }

    /** The text as given, or {@code dflt} when unset; the code that reads it checks the values it knows. */
    static String text(String raw, String dflt) {
        return raw == null ? dflt : raw;
    }

    static IllegalArgumentException invalid(String name, String what, String raw) {
        return new IllegalArgumentException(name + " takes " + what + ", got '" + raw + "'");
    }
}
