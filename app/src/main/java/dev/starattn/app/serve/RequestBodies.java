package dev.starattn.app.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.format.Printable;
import java.io.IOException;
import java.io.InputStream;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;

/** Reads request bodies within --max-body-bytes and checks their media type. */
final class RequestBodies {
    /** Bodies up to this much over the limit are read and dropped before the 413 is sent. */
    private static final long DRAIN_OVER_LIMIT = 8L << 20;

    private final long maxBodyBytes;

    RequestBodies(long maxBodyBytes) {
        this.maxBodyBytes = maxBodyBytes;
    }

    byte[] body(Request req) throws IOException {
        long declared = req.getLength();
        InputStream in = Content.Source.asInputStream(req);
        if (declared > maxBodyBytes) {
            // Answering before the client has sent its body makes the server close a connection with
            // unread bytes in it: the TCP reset can reach the client before the 413 does, which then
            // sees no response at all. A body moderately over the limit is drained first; a huge one
            // is not worth reading, and its client may see the reset instead.
            if (declared - maxBodyBytes <= DRAIN_OVER_LIMIT) drain(in, declared);
            throw tooLarge();
        }
        byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1));
        if (b.length > maxBodyBytes) {
            drain(in, DRAIN_OVER_LIMIT); // a streamed body without a length: the same, bounded
            throw tooLarge();
        }
        return b;
    }

    private static void drain(InputStream in, long max) throws IOException {
        for (long left = max; left > 0; ) {
            long k = in.skip(left);
            if (k <= 0) {
                if (in.read() < 0) return; // end of the body
                k = 1;
            }
            left -= k;
        }
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", "request_too_large",
                "the request body is larger than the server's limit of " + maxBodyBytes + " bytes (--max-body-bytes)");
    }

    /** The body's media type, lower case, without parameters; null when none is given. */
    static String mediaType(Request req) {
        String type = req.getHeaders().get(HttpHeader.CONTENT_TYPE);
        if (type == null) return null;
        int semi = type.indexOf(';');
        return (semi >= 0 ? type.substring(0, semi) : type).strip().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * JSON bodies come as application/json only: a browser sends a cross-site form post or a
     * text/plain fetch without asking the server first, an application/json one it does not.
     */
    static ApiError unsupportedType(String type, String accepted) {
        return new ApiError(415, "invalid_request_error", "unsupported_media_type", "the request body must be sent as " + accepted
                + (type == null ? " (no Content-Type header was given)" : "; Content-Type was " + Printable.quote(type)));
    }

    /** A JSON object body, sent as application/json. */
    JsonNode jsonBody(Request req) throws IOException {
        if (!"application/json".equals(mediaType(req))) throw unsupportedType(mediaType(req), "Content-Type: application/json");
        byte[] b = body(req);
        try {
            JsonNode n = Responses.JSON.readTree(b);
            if (n == null || !n.isObject()) throw ApiError.badRequest("invalid_json", "the request body must be a JSON object");
            return n;
        } catch (JsonProcessingException e) {
            throw ApiError.badRequest("invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage());
        }
    }
}
