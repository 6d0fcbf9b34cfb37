package dev.starattn.app.serve;

import dev.starattn.format.Printable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.function.IntSupplier;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** Who may call: the Host header (421), the browser's Origin (403, CORS), the API key (401). */
final class AccessChecks {
    private final ServerConfig cfg;
    /** The port bound, known only once the server has started. */
    private final IntSupplier port;
    private final boolean loopback;
    private final byte[] apiKeyBytes;

    AccessChecks(ServerConfig cfg, IntSupplier port) {
        this.cfg = cfg;
        this.port = port;
        boolean lo;
        try {
            lo = java.net.InetAddress.getByName(cfg.bind()).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            lo = false;
        }
        this.loopback = lo;
        this.apiKeyBytes = cfg.apiKey() == null ? null : cfg.apiKey().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * DNS rebinding: a page of another site whose name the attacker points at 127.0.0.1 reaches a
     * loopback server as "same origin". Its requests still carry that site's name in {@code Host};
     * bound to loopback, the server answers only requests addressed to a loopback name and its port.
     */
    void checkHost(Request req) {
        if (!loopback) return;
        String host = req.getHeaders().get(HttpHeader.HOST);
        if (host == null) return; // HTTP/1.0 without Host: not a browser
        String h = host.strip().toLowerCase(java.util.Locale.ROOT);
        String name = h;
        int port = 80;
        int colon = h.lastIndexOf(':');
        if (colon >= 0 && colon > h.lastIndexOf(']')) {
            name = h.substring(0, colon);
            try {
                port = Integer.parseInt(h.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
        }
        String bind = cfg.bind().toLowerCase(java.util.Locale.ROOT);
        boolean nameOk = name.equals("localhost") || name.equals("127.0.0.1") || name.equals("[::1]") || name.equals(bind)
                || name.equals("[" + bind + "]");
        int bound = this.port.getAsInt();
        if (!nameOk || port != bound) {
            throw new ApiError(421, "invalid_request_error", "misdirected_request", "this server is bound to loopback and answers only requests"
                    + " addressed to localhost, 127.0.0.1 or [::1] on port " + bound + "; the Host header says " + Printable.quote(host));
        }
    }

    /**
     * Browsers send {@code Origin} with cross-site requests. Without an API key anything on the
     * machine's browser could otherwise drive the server (or read its documents), so other origins
     * than the server's own are refused unless --allow-origin names them; those get CORS headers.
     * Returns true when it answered a CORS preflight itself.
     */
    boolean checkOrigin(Request req, Response resp, Callback cb, String method) {
        String origin = req.getHeaders().get(HttpHeader.ORIGIN);
        if (origin == null) return false;
        String host = req.getHeaders().get(HttpHeader.HOST);
        String o = origin.strip().toLowerCase(java.util.Locale.ROOT);
        if (host != null && o.equals("http://" + host.strip().toLowerCase(java.util.Locale.ROOT))) return false;
        boolean listed = cfg.allowOrigins().contains("*") || cfg.allowOrigins().contains(o);
        if (listed) {
            resp.getHeaders().put(HttpHeader.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            resp.getHeaders().put(HttpHeader.VARY, "Origin");
            if (method.equals("OPTIONS")) {
                resp.getHeaders().put(HttpHeader.ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, DELETE");
                resp.getHeaders().put(HttpHeader.ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type");
                resp.getHeaders().put(HttpHeader.ACCESS_CONTROL_MAX_AGE, "600");
                resp.setStatus(204);
                resp.write(true, null, cb);
                return true;
            }
            return false;
        }
        if (apiKeyBytes != null && !method.equals("OPTIONS")) return false; // the key guards it; the browser withholds the answer
        throw new ApiError(403, "invalid_request_error", "origin_not_allowed", "requests from the web origin " + Printable.quote(origin)
                + " are refused: only this server's own page may call it (start the server with --allow-origin " + Printable.escape(origin)
                + " to allow that one, or with --api-key-file)");
    }

    /** With --api-key-file: the request must carry {@code Authorization: Bearer <key>}. */
    void authorize(Request req) {
        if (apiKeyBytes == null) return;
        String h = req.getHeaders().get(HttpHeader.AUTHORIZATION);
        byte[] given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7)
                ? h.substring(7).trim().getBytes(StandardCharsets.UTF_8) : new byte[0];
        if (!MessageDigest.isEqual(given, apiKeyBytes)) {
            throw new ApiError(401, "invalid_request_error", "invalid_api_key",
                    h == null ? "this server needs an API key: send the header 'Authorization: Bearer <key>'"
                            : "the API key is not valid");
        }
    }
}
