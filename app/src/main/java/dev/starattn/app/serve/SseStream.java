package dev.starattn.app.serve;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Response;

/**
 * A server-sent events response, written and flushed one event at a time. A write that fails means
 * the client has gone: the stream remembers it and writes nothing more.
 */
final class SseStream {
    private final Response resp;
    /** Asks proxies (nginx) not to buffer the stream, so that tokens arrive as they are made. */
    private final boolean unbuffered;
    private OutputStream out;
    private boolean gone;

    SseStream(Response resp, boolean unbuffered) {
        this.resp = resp;
        this.unbuffered = unbuffered;
    }

    /** Commits the status and headers (once); the events follow. */
    void open() {
        if (out != null) return;
        resp.setStatus(200);
        resp.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        if (unbuffered) resp.getHeaders().put("X-Accel-Buffering", "no");
        out = Content.Sink.asOutputStream(resp);
    }

    /** True once a write has failed: the client closed the connection. */
    boolean gone() {
        return gone;
    }

    /** {@code data: <data>}, an event of the default type. */
    void data(String data) throws IOException {
        send("data: " + data + "\n\n");
    }

    /** {@code event: <event>} with {@code data: <data>}. */
    void event(String event, String data) throws IOException {
        send("event: " + event + "\ndata: " + data + "\n\n");
    }

    /** A comment line, which clients ignore: keeps an idle connection open through proxies. */
    void comment(String text) throws IOException {
        send(": " + text + "\n\n");
    }

    private void send(String text) throws IOException {
        if (gone) return;
        open();
        try {
            out.write(text.getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            gone = true;
            throw e;
        }
    }

    /** Ends the response (after opening it, so that an empty stream still has its headers). */
    void close() throws IOException {
        open();
        if (!gone) out.close();
    }
}
