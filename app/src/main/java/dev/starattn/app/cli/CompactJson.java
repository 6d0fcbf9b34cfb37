package dev.starattn.app.cli;

import dev.starattn.format.JsonStrings;
import java.util.Map;

/**
 * One value as compact JSON, as Jackson's {@code JsonNode.toString()} writes it (strings by
 * {@link JsonStrings}), for the text form of {@code info}: strings, numbers, booleans and maps of them,
 * without loading Jackson.
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
            case String s -> JsonStrings.quote(s, b);
            case Map<?, ?> m -> {
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) b.append(',');
                    first = false;
                    JsonStrings.quote(String.valueOf(e.getKey()), b);
                    b.append(':');
                    write(e.getValue(), b);
                }
                b.append('}');
            }
            default -> b.append(v);  // Number, Boolean: their toString is their JSON
        }
    }
}
