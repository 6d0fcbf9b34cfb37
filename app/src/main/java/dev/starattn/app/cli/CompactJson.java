package dev.starattn.app.cli;

import java.util.Map;

/**
 * One value as compact JSON, as Jackson's {@code JsonNode.toString()} writes it, for the text
 * form of {@code info}: strings, numbers, booleans and maps of them, without loading Jackson.
 */
final class CompactJson {
    private CompactJson() {}

    static String of(Object v) {
        StringBuilder b = new StringBuilder();
        write(v, b);
        return b.toString();
    }

    private static void write(Object v, StringBuilder b) {
        switch (v) {
            case null -> b.append("null");
            case String s -> quote(s, b);
            case Map<?, ?> m -> {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) b.append(',');
                    first = false;
                    quote(String.valueOf(e.getKey()), b);
                    b.append(':');
                    write(e.getValue(), b);
                }
                b.append('}');
            }
            default -> b.append(v);  // Number, Boolean: their toString is their JSON
        }
    }

    private static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04X", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }
}
