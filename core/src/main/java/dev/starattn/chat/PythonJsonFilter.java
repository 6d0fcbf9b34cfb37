package dev.starattn.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import dev.starattn.format.JsonStrings;
import java.util.Map;

/**
 * {@code tojson} as transformers defines it for chat templates: Python's
 * {@code json.dumps(x, ensure_ascii=False, indent=indent)}, keys in their given order, with
 * Python's separators ({@code ", "} and {@code ": "}; {@code ","} at line ends when indented).
 */
final class PythonJsonFilter implements Filter {
    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return filter(var, interpreter, args, Map.of());
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object indent = kwargs.getOrDefault("indent", args.length > 0 ? args[0] : null);
        int n = indent == null ? -1 : Integer.parseInt(String.valueOf(indent));
        StringBuilder b = new StringBuilder();
        write(var, n, 0, b);
        return b.toString();
    }

    static void write(Object v, int indent, int depth, StringBuilder b) {
        switch (v) {
            case null -> b.append("null");
            case Boolean x -> b.append(x ? "true" : "false");
            case Integer x -> b.append(x);
            case Long x -> b.append(x);
            case Number x -> b.append(pythonFloat(x.doubleValue()));
            case CharSequence s -> JsonStrings.quote(s.toString(), b);
            case Map<?, ?> m -> {
                if (m.isEmpty()) {
                    b.append("{}");
                    return;
                }
                b.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) b.append(indent < 0 ? ", " : ",");
                    newline(indent, depth + 1, b);
                    JsonStrings.quote(String.valueOf(e.getKey()), b);
                    b.append(": ");
                    write(e.getValue(), indent, depth + 1, b);
                    first = false;
                }
                newline(indent, depth, b);
                b.append('}');
            }
            case Iterable<?> it -> {
                if (!it.iterator().hasNext()) {
                    b.append("[]");
                    return;
                }
                b.append('[');
                boolean first = true;
                for (Object o : it) {
                    if (!first) b.append(indent < 0 ? ", " : ",");
                    newline(indent, depth + 1, b);
                    write(o, indent, depth + 1, b);
                    first = false;
                }
                newline(indent, depth, b);
                b.append(']');
            }
            default -> JsonStrings.quote(v.toString(), b);
        }
    }

    private static void newline(int indent, int depth, StringBuilder b) {
        if (indent < 0) return;
        b.append('\n').append(" ".repeat(indent * depth));
    }

    private static String pythonFloat(double d) {
        if (d == Math.rint(d) && !Double.isInfinite(d) && Math.abs(d) < 1e16) return (long) d + ".0";
        return Double.toString(d);
    }
}
