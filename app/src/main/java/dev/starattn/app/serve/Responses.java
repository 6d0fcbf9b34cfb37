package dev.starattn.app.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** Writes whole answers: JSON, text, errors in OpenAI's shape, and the web page's static files. */
final class Responses {
    static final ObjectMapper JSON = new ObjectMapper();

    private Responses() {}

    static void json(Response resp, Callback cb, int status, JsonNode body) {
        try {
            text(resp, cb, status, "application/json", JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static void text(Response resp, Callback cb, int status, String contentType, String body) {
        resp.setStatus(status);
        resp.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        Content.Sink.write(resp, true, body, cb);
    }

    static void error(Response resp, Callback cb, ApiError e) {
        if (resp.isCommitted()) {
            cb.failed(e);
            return;
        }
        ObjectNode j = JSON.createObjectNode();
        ObjectNode err = j.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type);
        if (e.code != null) err.put("code", e.code);
        else err.putNull("code");
        if (e.param != null) err.put("param", e.param);
        else err.putNull("param");
        if (e.status == 429) resp.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
        if (e.status == 401) resp.getHeaders().put(HttpHeader.WWW_AUTHENTICATE, "Bearer");
        json(resp, cb, e.status, j);
    }

    static void staticResource(Response resp, Callback cb, String name, String type) throws IOException {
        try (InputStream in = StarServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) throw ApiError.notFound("not_found", "the web page is missing from this build");
            byte[] b = in.readAllBytes();
            resp.setStatus(200);
            resp.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
            resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            resp.write(true, ByteBuffer.wrap(b), cb);
        }
    }
}
