package dev.starattn.chat;

import java.time.ZonedDateTime;

/** The functions transformers gives every chat template: {@code raise_exception} and {@code strftime_now}. */
public final class TemplateFunctions {
    private TemplateFunctions() {}

    /** Thrown from inside Jinjava, which records it; {@link JinjaChatTemplate} rethrows the message. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message);
        }
    }

    public static Object raiseException(String message) {
        throw new Raised(message);
    }

    /** Python's {@code datetime.now().strftime(format)}, for templates that print today's date. */
    public static String strftimeNow(String format) {
        return com.hubspot.jinjava.objects.date.StrftimeFormatter.format(ZonedDateTime.now(), format);
    }
}
