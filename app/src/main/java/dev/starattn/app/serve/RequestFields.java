package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.format.Printable;

/** Typed fields of a JSON request; a wrong type is a 400 naming the field in {@code param}. */
final class RequestFields {
    private RequestFields() {}

    /** The field, or null when absent or JSON null. */
    static JsonNode field(JsonNode body, String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    static ApiError wrongType(String name, String want, JsonNode got) {
        String shown = got.isTextual() ? "the string " + Printable.quote(got.asText()) : Printable.escape(got.toString(), 60);
        return ApiError.badField(name, "invalid_type", name + " must be " + want + ", got " + shown);
    }

    static boolean bool(JsonNode body, String name, boolean dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (!n.isBoolean()) throw wrongType(name, "true or false", n);
        return n.booleanValue();
    }

    static double number(JsonNode body, String name, double dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (!n.isNumber() || !Double.isFinite(n.doubleValue())) throw wrongType(name, "a number", n);
        return n.doubleValue();
    }

    /** A whole number (1e3 and 3.0 count); one beyond a long is Long.MAX_VALUE or MIN_VALUE, for the caller's range check. */
    static long integer(JsonNode body, String name, long dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (n.isIntegralNumber()) return n.canConvertToLong() ? n.longValue() : n.bigIntegerValue().signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
        if (n.isFloatingPointNumber()) {
            double d = n.doubleValue();
            if (Double.isFinite(d) && d == Math.rint(d)) return d >= 0x1p63 ? Long.MAX_VALUE : d <= -0x1p63 ? Long.MIN_VALUE : (long) d;
        }
        throw wrongType(name, "a whole number", n);
    }

    static String string(JsonNode body, String name) {
        JsonNode n = field(body, name);
        if (n == null) return null;
        if (!n.isTextual()) throw wrongType(name, "a string", n);
        return n.textValue();
    }
}
