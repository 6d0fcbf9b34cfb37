package dev.starattn.format;

/**
 * A string as a JSON string literal, written as Python's {@code json.dumps(s, ensure_ascii=False)} writes
 * it (what chat templates' {@code tojson} must reproduce): quote and backslash escaped, {@code \b \f \n \r \t}
 * by their short escapes, other control characters as six-character escapes with lowercase hex digits, everything else as is.
 * Jackson writes the same but for the case of those hex digits.
 */
public final class JsonStrings {
    private JsonStrings() {}

    /** Appends {@code s} to {@code b} as a quoted JSON string. */
    public static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }
}
