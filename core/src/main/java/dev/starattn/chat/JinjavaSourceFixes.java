package dev.starattn.chat;

/**
 * Rewrites the two Jinja forms that Jinjava parses differently, inside tags only (never text or
 * string literals). A reversing slice {@code x[::-1]} becomes {@code (x|reverse)}'s equivalent
 * {@code x|reverse} (Jinjava's slices take no step). And each keyword argument's value goes in parentheses: {@code namespace(i=messages|length - 1)}
 * becomes {@code namespace(i=(messages|length - 1))}. Jinja gives the {@code =} of a keyword
 * argument the lowest precedence; Jinjava's parser binds it tighter than arithmetic and would
 * compute {@code (i=messages|length) - 1}. Only the inside of {@code {{ }}} and {@code {% %}} tags
 * is touched, never text or string literals.
 */
final class JinjavaSourceFixes {
    private JinjavaSourceFixes() {}

    static String apply(String src) {
        StringBuilder out = new StringBuilder(src.length() + 16);
        int i = 0;
        while (i < src.length()) {
            int open = nextTag(src, i);
            if (open < 0) {
                out.append(src, i, src.length());
                break;
            }
            out.append(src, i, open);
            String close = src.charAt(open + 1) == '{' ? "}}" : src.charAt(open + 1) == '%' ? "%}" : "#}";
            int end = tagEnd(src, open + 2, close);
            String body = src.substring(open, end);
            out.append(close.equals("#}") ? body : fixTag(reverseSlices(body)));
            i = end;
        }
        return out.toString();
    }

    private static int nextTag(String s, int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return -1;
    }

    /** The index just after the tag's closing delimiter (string literals skipped), or the end of the text. */
    private static int tagEnd(String s, int from, String close) {
        char quote = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if ((c == '\'' || c == '"') && !close.equals("#}")) {
                quote = c;
            } else if (s.startsWith(close, i)) {
                return i + 2;
            }
        }
        return s.length();
    }

    /** {@code [::-1]} outside string literals becomes {@code |reverse}. */
    private static String reverseSlices(String t) {
        if (!t.contains("[::-1]")) return t;
        StringBuilder out = new StringBuilder(t.length());
        char quote = 0;
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (quote == 0 && t.startsWith("[::-1]", i)) {
                out.append("|reverse");
                i += 5;
                continue;
            }
            out.append(c);
            if (quote != 0) {
                if (c == '\\' && i + 1 < t.length()) out.append(t.charAt(++i));
                else if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"') {
                quote = c;
            }
        }
        return out.toString();
    }

    /** Rewrites one tag: after each {@code (name=} or {@code , name=} inside parentheses, wraps the value. */
    private static String fixTag(String t) {
        StringBuilder out = new StringBuilder(t.length() + 8);
        java.util.ArrayDeque<Boolean> wrapOpen = new java.util.ArrayDeque<>();  // per bracket depth: a '(' we added is open
        int depth = 0;
        boolean wrapping = false;
        int wrapDepth = -1;
        char quote = 0;
        for (int i = 0; i < t.length(); i++) {
            char c = t.charAt(i);
            if (quote != 0) {
                out.append(c);
                if (c == '\\' && i + 1 < t.length()) out.append(t.charAt(++i));
                else if (c == quote) quote = 0;
                continue;
            }
            if (c == '\'' || c == '"') {
                quote = c;
                out.append(c);
                continue;
            }
            if (wrapping && depth == wrapDepth && (c == ',' || c == ')')) {
                out.append(')');
                wrapping = false;
            }
            if (c == '(' || c == '[' || c == '{') depth++;
            if (c == ')' || c == ']' || c == '}') depth--;
            out.append(c);
            if (c == '=' && !wrapping && depth > 0 && isKeywordEquals(t, i)) {
                out.append('(');
                wrapping = true;
                wrapDepth = depth;
            }
        }
        if (wrapping) out.append(')');
        return out.toString();
    }

    /** An {@code =} that is not part of {@code ==, !=, <=, >=} and follows {@code ( name} or {@code , name}. */
    private static boolean isKeywordEquals(String t, int i) {
        if (i + 1 < t.length() && t.charAt(i + 1) == '=') return false;
        char before = i > 0 ? t.charAt(i - 1) : ' ';
        if (before == '=' || before == '!' || before == '<' || before == '>') return false;
        int j = i - 1;
        while (j >= 0 && t.charAt(j) == ' ') j--;
        int nameEnd = j;
        while (j >= 0 && (Character.isLetterOrDigit(t.charAt(j)) || t.charAt(j) == '_')) j--;
        if (j == nameEnd) return false;
        while (j >= 0 && t.charAt(j) == ' ') j--;
        return j >= 0 && (t.charAt(j) == '(' || t.charAt(j) == ',');
    }
}
