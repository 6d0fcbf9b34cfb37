package dev.starattn.chat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * The Python {@code str} methods that chat templates call ({@code content.strip()},
 * {@code .startswith(..)}, {@code .split(..)}, ...): Jinja runs on Python, where every string has
 * them; Jinjava's strings are Java strings, which do not. Resolved ahead of Jinjava's own resolver,
 * only for a {@link String} base and a known name; anything else falls through to it.
 */
final class PythonStringMethods extends ELResolver {
    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name)) return null;
        Object[] p = params == null ? new Object[0] : params;
        Object r = call(s, name, p);
        if (r != NOT_HANDLED) context.setPropertyResolved(true);
        return r == NOT_HANDLED ? null : r;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object call(String s, String name, Object[] p) {
        return switch (name) {
            case "strip" -> p.length == 0 || p[0] == null ? s.strip() : strip(s, str(p[0]));
            case "lstrip" -> p.length == 0 || p[0] == null ? s.stripLeading() : lstrip(s, str(p[0]));
            case "rstrip" -> p.length == 0 || p[0] == null ? s.stripTrailing() : rstrip(s, str(p[0]));
            case "startswith" -> p.length == 1 ? s.startsWith(str(p[0])) : NOT_HANDLED;
            case "endswith" -> p.length == 1 ? s.endsWith(str(p[0])) : NOT_HANDLED;
            case "split" -> p.length == 0 || p[0] == null ? whitespaceSplit(s) : split(s, str(p[0]), p.length > 1 ? ((Number) p[1]).intValue() : -1);
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "replace" -> p.length == 2 ? s.replace(str(p[0]), str(p[1])) : NOT_HANDLED;
            case "find" -> p.length == 1 ? s.indexOf(str(p[0])) : NOT_HANDLED;
            case "count" -> p.length == 1 ? count(s, str(p[0])) : NOT_HANDLED;
            case "join" -> p.length == 1 && p[0] instanceof Iterable<?> it ? join(s, it) : NOT_HANDLED;
            case "isspace" -> !s.isEmpty() && s.isBlank();
            case "isdigit" -> !s.isEmpty() && s.chars().allMatch(Character::isDigit);
            default -> NOT_HANDLED;
        };
    }

    private static String str(Object o) {
        return String.valueOf(o);
    }

    static String strip(String s, String chars) {
        return rstrip(lstrip(s, chars), chars);
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && chars.indexOf(s.charAt(i)) >= 0) i++;
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int i = s.length();
        while (i > 0 && chars.indexOf(s.charAt(i - 1)) >= 0) i--;
        return s.substring(0, i);
    }

    /** Python's {@code s.split(sep, maxsplit)}: a literal separator, every piece kept. */
    private static List<String> split(String s, String sep, int maxSplit) {
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        List<String> out = new ArrayList<>();
        int from = 0;
        while (maxSplit < 0 || out.size() < maxSplit) {
            int i = s.indexOf(sep, from);
            if (i < 0) break;
            out.add(s.substring(from, i));
            from = i + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static List<String> whitespaceSplit(String s) {
        String t = s.strip();
        return t.isEmpty() ? List.of() : Arrays.asList(t.split("\\s+"));
    }

    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean prevLetter = false;
        for (char c : s.toCharArray()) {
            b.append(prevLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevLetter = Character.isLetter(c);
        }
        return b.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
        return n;
    }

    private static String join(String sep, Iterable<?> items) {
        StringBuilder b = new StringBuilder();
        boolean first = true;
        for (Object o : items) {
            if (!first) b.append(sep);
            b.append(o);
            first = false;
        }
        return b.toString();
    }

    // Only invoke is resolved here; property access falls through to Jinjava.
    @Override public Object getValue(ELContext context, Object base, Object property) { return null; }
    @Override public Class<?> getType(ELContext context, Object base, Object property) { return null; }
    @Override public void setValue(ELContext context, Object base, Object property, Object value) {}
    @Override public boolean isReadOnly(ELContext context, Object base, Object property) { return true; }
    @Override public java.util.Iterator<java.beans.FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) { return null; }
    @Override public Class<?> getCommonPropertyType(ELContext context, Object base) { return null; }
}
