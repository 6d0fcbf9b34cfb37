package dev.starattn.app.serve;

import dev.starattn.format.Printable;
import java.util.function.Consumer;

/** One line per request: method, path, status, tokens, milliseconds. */
final class RequestLog {
    /** What one request did, for its log line: -1 while unknown. */
    static final class Exchange {
        long promptTokens = -1, completionTokens = -1;
    }

    /** Where lines go; null: nowhere. */
    private final Consumer<String> sink;

    RequestLog(Consumer<String> sink) {
        this.sink = sink;
    }

    void write(String method, String path, int status, Exchange ex, long startNanos) {
        if (sink == null) return;
        String tokens = ex.promptTokens < 0 ? "-" : ex.completionTokens < 0 ? Long.toString(ex.promptTokens)
                : ex.promptTokens + "+" + ex.completionTokens;
        sink.accept(String.format("%s %s %d tokens=%s ms=%d", Printable.escape(method, 16), Printable.escape(path, 200),
                status, tokens, (System.nanoTime() - startNanos) / 1_000_000));
    }
}
