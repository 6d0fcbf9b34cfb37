package dev.starattn.format;

/**
 * Makes text that came from a file or a client safe to print on a terminal or in a log line.
 * A GGUF key, a tokenizer string or a document name is attacker-controlled: printed raw, an
 * escape sequence in it would reach the user's terminal (move the cursor, rewrite the title,
 * hide the rest of the message). Control characters (C0, DEL, C1) and the Unicode bidirectional
 * overrides become visible escapes, and very long text is cut with its length stated.
 */
public final class Printable {
    /** The longest piece of foreign text an error message quotes. */
    public static final int MAX_QUOTED = 200;

    private Printable() {}

    /** {@code s} with every control or bidi-override character escaped, cut to {@link #MAX_QUOTED}. */
    public static String escape(String s) {
        return escape(s, MAX_QUOTED);
    }

    /** As {@link #escape(String)}, cut to {@code max} characters (the escapes not counted). */
    public static String escape(String s, int max) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder(Math.min(s.length(), max) + 16);
        int n = Math.min(s.length(), max);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '\n') b.append("\\n");
            else if (c == '\t') b.append("\\t");
            else if (c == '\r') b.append("\\r");
            else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) b.append(String.format("\\x%02x", (int) c));
            else if (isBidiControl(c) || Character.isSurrogate(c) && !validSurrogateAt(s, i)) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        if (s.length() > max) b.append("... (").append(s.length()).append(" characters)");
        return b.toString();
    }

    /** {@code s} escaped and in double quotes, for naming a key or a string in a sentence. */
    public static String quote(String s) {
        return "\"" + escape(s) + "\"";
    }

    /** Escapes control characters only, without cutting: for whole messages at the last step before a terminal. */
    public static String sanitizeMessage(String s) {
        return escape(s, Integer.MAX_VALUE);
    }

    private static boolean isBidiControl(char c) {
        return (c >= '\u202a' && c <= '\u202e') || (c >= '\u2066' && c <= '\u2069') || c == '\u200e' || c == '\u200f'
                || c == '\u061c';
    }

    private static boolean validSurrogateAt(String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c)) return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
        return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
    }
}
