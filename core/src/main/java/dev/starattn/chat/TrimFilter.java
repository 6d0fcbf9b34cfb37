package dev.starattn.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

/** {@code trim} as Jinja does it: Python's {@code str.strip()} (Unicode whitespace, not just chars up to U+0020). */
final class TrimFilter implements Filter {
    @Override
    public String getName() {
        return "trim";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        if (var == null) return "";
        String s = var.toString();
        return args.length > 0 && args[0] != null ? PythonStringMethods.strip(s, args[0]) : s.strip();
    }
}
