package dev.starattn.app.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import dev.starattn.model.PromptTemplate;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;
import dev.starattn.format.Printable;
import dev.starattn.tokenizer.Tokenizer;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Fields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@code starattn serve}: an OpenAI-compatible HTTP API over one model, with documents encoded
 * once (phase 1 over the hosts) and asked many questions (phase 2 only), and a web page.
 *
 * <p>Why Jetty 12 (its core API, without servlets): of the servers that resolve here (Javalin,
 * Helidon SE, Vert.x, Jetty) it is the smallest dependency for what we need, four jars with only
 * slf4j-api below them (Javalin 7 is a layer over this same Jetty that adds servlets, websockets
 * and the Kotlin runtime; Helidon SE is a framework of many modules; Vert.x is event-loop based,
 * while the engine's calls block for seconds). Jetty is long-lived and well kept (Eclipse
 * Foundation), runs blocking handlers on virtual threads, and streams a response through a plain
 * {@code OutputStream}, which is all that server-sent events need. Routing ten paths by hand is
 * less code than configuring a framework.
 */
public final class StarServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String API_DOCS = "see GET / for the web page and docs/SERVE.md for the API";

    private final LoadedModel model;
    private final InferenceEngine engine;
    private final ServerConfig cfg;
    private final String modelId;
    private final PromptTemplate template;
    private final int maxContext;
    private final Admission admission;
    private final MemoryBudget budget;
    final Metrics metrics = new Metrics();
    private final Map<String, Document> documents = new ConcurrentHashMap<>();
    /** Encoded contexts alive now (documents' and running requests'), for per-host KV figures. */
    private final Set<EncodedContext> live = ConcurrentHashMap.newKeySet();
    private final ScheduledExecutorService reaper;
    private final Server server;
    private final ServerConnector connector;
    private final byte[] apiKeyBytes;
    /** One line per request (method, path, status, tokens, ms); null: none. */
    private final Consumer<String> requestLog;
    /** The most text bytes one token stands for in this vocabulary (see {@link #maxTokenBytes}). */
    private final int maxTokenBytes;
    /**
     * Requests with a body that are being read, parsed or served at once: {@code --max-concurrent +
     * --queue}. Each holds at most {@code --max-body-bytes} of body and what it parses to, so the
     * heap those take is bounded however many clients connect; one more is answered 429.
     */
    private final Semaphore intake;
    private final boolean loopback;
    private final AtomicLong documentSeq = new AtomicLong();
    /** Documents held or being created, and their text bytes (guarded by {@link #documentLimits}). */
    private final Object documentLimits = new Object();
    private int documentsHeld;
    private long documentBytesHeld;

    public StarServer(LoadedModel model, InferenceEngine engine, ServerConfig cfg) {
        this(model, engine, cfg, null);
    }

    public StarServer(LoadedModel model, InferenceEngine engine, ServerConfig cfg, Consumer<String> requestLog) {
        this.requestLog = requestLog;
        this.intake = new Semaphore(cfg.maxConcurrent() + cfg.queue());
        this.maxTokenBytes = maxTokenBytes(model.tokenizer());
        boolean lo;
        try {
            lo = java.net.InetAddress.getByName(cfg.bind()).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            lo = false;
        }
        this.loopback = lo;
        this.model = model;
        this.engine = engine;
        this.cfg = cfg;
        String file = model.path().getFileName().toString();
        this.modelId = file.endsWith(".gguf") ? file.substring(0, file.length() - 5) : file;
        this.template = model.template() != null ? model.template() : PromptTemplate.BASE;
        int modelMax = model.config().contextLength() > 0 ? model.config().contextLength() : Integer.MAX_VALUE;
        this.maxContext = cfg.maxContext() > 0 ? Math.min(cfg.maxContext(), modelMax) : modelMax;
        this.admission = new Admission(cfg.maxConcurrent(), cfg.queue());
        this.budget = new MemoryBudget(cfg.memoryBudget());
        this.apiKeyBytes = cfg.apiKey() == null ? null : cfg.apiKey().getBytes(StandardCharsets.UTF_8);

        QueuedThreadPool pool = new QueuedThreadPool(64, 4);
        pool.setName("serve");
        // Handlers block (the engine computes for seconds): each request gets a virtual thread.
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(cfg.bind());
        connector.setPort(cfg.port());
        connector.setIdleTimeout(Math.max(30_000, cfg.timeout().toMillis() + 10_000));
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                route(request, response, callback);
                return true;
            }
        });
        long ttlMs = cfg.documentTtl().toMillis();
        long period = Math.clamp(ttlMs / 4, 50, 5_000);
        reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "serve-document-reaper");
            t.setDaemon(true);
            return t;
        });
        reaper.scheduleWithFixedDelay(this::expireDocuments, period, period, TimeUnit.MILLISECONDS);
    }

    public StarServer start() throws Exception {
        server.start();
        return this;
    }

    /** The port bound (the ephemeral one when configured with 0). */
    public int port() {
        return connector.getLocalPort();
    }

    public String modelId() {
        return modelId;
    }

    /** Documents held now (any status). */
    public int documentCount() {
        return documents.size();
    }

    /** Bytes of the memory budget in use. */
    public long budgetUsed() {
        return budget.used();
    }

    /** The admission control (tests take its slots to fill the queue deterministically). */
    Admission admission() {
        return admission;
    }

    /** Requests with a body being read or served now (see {@link #intake}). */
    int bodiesInFlight() {
        return cfg.maxConcurrent() + cfg.queue() - intake.availablePermits();
    }

    /** Encoded contexts alive now (documents' and running requests'). */
    int liveContexts() {
        return live.size();
    }

    public void join() throws InterruptedException {
        server.join();
    }

    @Override
    public void close() throws Exception {
        reaper.shutdownNow();
        server.stop();
        for (String id : List.copyOf(documents.keySet())) deleteDocument(id);
    }

    // ---------------------------------------------------------------- routing

    /** What one request did, for its log line. */
    private static final class Exchange {
        long promptTokens = -1, completionTokens = -1;
    }

    private void route(Request req, Response resp, Callback cb) {
        long t0 = System.nanoTime();
        String path = Request.getPathInContext(req);
        String method = req.getMethod();
        String endpoint = endpointName(path);
        Exchange ex = new Exchange();
        int status = 200;
        boolean tookIntake = false;
        try {
            checkHost(req);
            if (checkOrigin(req, resp, cb, method)) {
                status = 204;
                return;
            }
            if (path.equals("/") || path.equals("/index.html")) {
                requireMethod(method, "GET");
                staticResource(resp, cb, "index.html", "text/html; charset=utf-8");
                return;
            }
            if (path.equals("/app.js")) {
                requireMethod(method, "GET");
                staticResource(resp, cb, "app.js", "text/javascript; charset=utf-8");
                return;
            }
            if (path.equals("/health")) {
                requireMethod(method, "GET");
                ObjectNode j = JSON.createObjectNode();
                j.put("status", "ok");
                j.put("model", modelId);
                j.put("documents", documents.size());
                j.put("running", admission.running());
                j.put("queue_depth", admission.waiting());
                json(resp, cb, 200, j);
                return;
            }
            if (!path.startsWith("/v1/") && !path.equals("/metrics")) throw ApiError.notFound("not_found", "no such path: " + Printable.escape(path) + "; " + API_DOCS);
            authorize(req);
            if (method.equals("POST")) {
                if (!intake.tryAcquire()) throw ApiError.queueFull();
                tookIntake = true;
            }
            switch (path) {
                case "/metrics" -> {
                    requireMethod(method, "GET");
                    text(resp, cb, 200, "text/plain; version=0.0.4; charset=utf-8", renderMetrics());
                }
                case "/v1/models" -> {
                    requireMethod(method, "GET");
                    ObjectNode j = JSON.createObjectNode();
                    j.put("object", "list");
                    j.putArray("data").add(modelJson());
                    json(resp, cb, 200, j);
                }
                case "/v1/chat/completions" -> {
                    requireMethod(method, "POST");
                    status = complete(req, resp, cb, true, ex);
                }
                case "/v1/completions" -> {
                    requireMethod(method, "POST");
                    status = complete(req, resp, cb, false, ex);
                }
                case "/v1/documents" -> {
                    if (method.equals("GET")) {
                        json(resp, cb, 200, listDocuments(req));
                    } else {
                        requireMethod(method, "POST");
                        status = 202;
                        Document d = createDocument(req);
                        ex.promptTokens = d.contextTokens.length;
                        json(resp, cb, 202, documentJson(d));
                    }
                }
                default -> {
                    if (path.equals("/v1/models/" + modelId)) {
                        requireMethod(method, "GET");
                        json(resp, cb, 200, modelJson());
                    } else if (path.startsWith("/v1/documents/")) {
                        String rest = path.substring("/v1/documents/".length());
                        if (rest.endsWith("/events")) {
                            requireMethod(method, "GET");
                            documentEvents(document(rest.substring(0, rest.length() - "/events".length())), resp, cb);
                        } else if (method.equals("DELETE")) {
                            document(rest);
                            deleteDocument(rest);
                            ObjectNode j = JSON.createObjectNode();
                            j.put("id", rest);
                            j.put("object", "document");
                            j.put("deleted", true);
                            json(resp, cb, 200, j);
                        } else {
                            requireMethod(method, "GET");
                            json(resp, cb, 200, documentJson(document(rest)));
                        }
                    } else {
                        throw ApiError.notFound("not_found", "no such path: " + Printable.escape(path) + "; " + API_DOCS);
                    }
                }
            }
        } catch (ApiError e) {
            status = e.status;
            error(resp, cb, e);
        } catch (Throwable t) {
            status = 500;
            error(resp, cb, new ApiError(500, "server_error", "internal_error",
                    "the server failed: " + (t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName())));
        } finally {
            if (tookIntake) intake.release();
            metrics.request(endpoint, status);
            if (requestLog != null) {
                String tokens = ex.promptTokens < 0 ? "-" : ex.completionTokens < 0 ? Long.toString(ex.promptTokens)
                        : ex.promptTokens + "+" + ex.completionTokens;
                requestLog.accept(String.format("%s %s %d tokens=%s ms=%d", Printable.escape(method, 16), Printable.escape(path, 200),
                        status, tokens, (System.nanoTime() - t0) / 1_000_000));
            }
        }
    }

    /**
     * DNS rebinding: a page of another site whose name the attacker points at 127.0.0.1 reaches a
     * loopback server as "same origin". Its requests still carry that site's name in {@code Host};
     * bound to loopback, the server answers only requests addressed to a loopback name and its port.
     */
    private void checkHost(Request req) {
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
        if (!nameOk || port != port()) {
            throw new ApiError(421, "invalid_request_error", "misdirected_request", "this server is bound to loopback and answers only requests"
                    + " addressed to localhost, 127.0.0.1 or [::1] on port " + port() + "; the Host header says " + Printable.quote(host));
        }
    }

    /**
     * Browsers send {@code Origin} with cross-site requests. Without an API key anything on the
     * machine's browser could otherwise drive the server (or read its documents), so other origins
     * than the server's own are refused unless --allow-origin names them; those get CORS headers.
     * Returns true when it answered a CORS preflight itself.
     */
    private boolean checkOrigin(Request req, Response resp, Callback cb, String method) {
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

    private static String endpointName(String path) {
        if (path.startsWith("/v1/documents/")) return path.endsWith("/events") ? "/v1/documents/{id}/events" : "/v1/documents/{id}";
        return switch (path) {
            case "/", "/index.html", "/app.js", "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions",
                 "/v1/documents" -> path;
            default -> path.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
    }

    private static void requireMethod(String method, String allowed) {
        if (!method.equals(allowed)) {
            throw new ApiError(405, "invalid_request_error", "method_not_allowed", method + " is not allowed here; use " + allowed);
        }
    }

    private void authorize(Request req) {
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

    // ---------------------------------------------------------------- responses

    private static void json(Response resp, Callback cb, int status, JsonNode body) {
        try {
            text(resp, cb, status, "application/json", JSON.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void text(Response resp, Callback cb, int status, String contentType, String body) {
        resp.setStatus(status);
        resp.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        Content.Sink.write(resp, true, body, cb);
    }

    private static void error(Response resp, Callback cb, ApiError e) {
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

    private static void staticResource(Response resp, Callback cb, String name, String type) throws IOException {
        try (InputStream in = StarServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) throw ApiError.notFound("not_found", "the web page is missing from this build");
            byte[] b = in.readAllBytes();
            resp.setStatus(200);
            resp.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
            resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            resp.write(true, ByteBuffer.wrap(b), cb);
        }
    }

    /** Bodies up to this much over the limit are read and dropped before the 413 is sent. */
    private static final long DRAIN_OVER_LIMIT = 8L << 20;

    private byte[] body(Request req) throws IOException {
        long declared = req.getLength();
        InputStream in = Content.Source.asInputStream(req);
        if (declared > cfg.maxBodyBytes()) {
            // Answering before the client has sent its body makes the server close a connection with
            // unread bytes in it: the TCP reset can reach the client before the 413 does, which then
            // sees no response at all. A body moderately over the limit is drained first; a huge one
            // is not worth reading, and its client may see the reset instead.
            if (declared - cfg.maxBodyBytes() <= DRAIN_OVER_LIMIT) drain(in, declared);
            throw tooLarge();
        }
        byte[] b = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, cfg.maxBodyBytes() + 1));
        if (b.length > cfg.maxBodyBytes()) {
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
                "the request body is larger than the server's limit of " + cfg.maxBodyBytes() + " bytes (--max-body-bytes)");
    }

    /** The body's media type, lower case, without parameters; null when none is given. */
    private static String mediaType(Request req) {
        String type = req.getHeaders().get(HttpHeader.CONTENT_TYPE);
        if (type == null) return null;
        int semi = type.indexOf(';');
        return (semi >= 0 ? type.substring(0, semi) : type).strip().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * JSON bodies come as application/json only: a browser sends a cross-site form post or a
     * text/plain fetch without asking the server first, an application/json one it does not.
     */
    private static ApiError unsupportedType(String type, String accepted) {
        return new ApiError(415, "invalid_request_error", "unsupported_media_type", "the request body must be sent as " + accepted
                + (type == null ? " (no Content-Type header was given)" : "; Content-Type was " + Printable.quote(type)));
    }

    private JsonNode jsonBody(Request req) throws IOException {
        if (!"application/json".equals(mediaType(req))) throw unsupportedType(mediaType(req), "Content-Type: application/json");
        byte[] b = body(req);
        try {
            JsonNode n = JSON.readTree(b);
            if (n == null || !n.isObject()) throw ApiError.badRequest("invalid_json", "the request body must be a JSON object");
            return n;
        } catch (JsonProcessingException e) {
            throw ApiError.badRequest("invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    // ---------------------------------------------------------------- request fields

    /** The field, or null when absent or JSON null. */
    private static JsonNode field(JsonNode body, String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    private static ApiError wrongType(String name, String want, JsonNode got) {
        String shown = got.isTextual() ? "the string " + Printable.quote(got.asText()) : Printable.escape(got.toString(), 60);
        return ApiError.badField(name, "invalid_type", name + " must be " + want + ", got " + shown);
    }

    private static boolean bool(JsonNode body, String name, boolean dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (!n.isBoolean()) throw wrongType(name, "true or false", n);
        return n.booleanValue();
    }

    private static double number(JsonNode body, String name, double dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (!n.isNumber() || !Double.isFinite(n.doubleValue())) throw wrongType(name, "a number", n);
        return n.doubleValue();
    }

    /** A whole number (1e3 and 3.0 count); one beyond a long is Long.MAX_VALUE or MIN_VALUE, for the caller's range check. */
    private static long integer(JsonNode body, String name, long dflt) {
        JsonNode n = field(body, name);
        if (n == null) return dflt;
        if (n.isIntegralNumber()) return n.canConvertToLong() ? n.longValue() : n.bigIntegerValue().signum() > 0 ? Long.MAX_VALUE : Long.MIN_VALUE;
        if (n.isFloatingPointNumber()) {
            double d = n.doubleValue();
            if (Double.isFinite(d) && d == Math.rint(d)) return d >= 0x1p63 ? Long.MAX_VALUE : d <= -0x1p63 ? Long.MIN_VALUE : (long) d;
        }
        throw wrongType(name, "a whole number", n);
    }

    private static String string(JsonNode body, String name) {
        JsonNode n = field(body, name);
        if (n == null) return null;
        if (!n.isTextual()) throw wrongType(name, "a string", n);
        return n.textValue();
    }

    /** UTF-8 bytes of {@code s}, without encoding it. */
    static long utf8Length(CharSequence s) {
        long n = 0;
        for (int i = 0, len = s.length(); i < len; i++) {
            char c = s.charAt(i);
            if (c < 0x80) n++;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else n += 3;
        }
        return n;
    }

    /**
     * The most text bytes one token of this vocabulary can stand for: its decoded bytes or its
     * vocabulary text (a special token written out in the text), and 4 (one unknown code point as
     * an unknown token). Tokenizing never drops text, so {@code n} bytes of text become at least
     * {@code ceil(n / maxTokenBytes)} tokens: more bytes than {@code maxContext * maxTokenBytes} can
     * be refused before tokenizing, which for a large text takes long and much memory.
     */
    static int maxTokenBytes(Tokenizer t) {
        int m = 4;
        for (int id = 0; id < t.vocabSize(); id++) {
            try {
                m = Math.max(m, t.tokenBytes(id).length);
            } catch (RuntimeException ignored) {
                // a token without bytes (control token): its text below still counts
            }
            String text = t.tokenText(id);
            if (text != null) m = (int) Math.max(m, utf8Length(text));
        }
        return m;
    }

    /** Fewest tokens {@code bytes} bytes of text can become. */
    private long minTokens(long bytes) {
        return (bytes + maxTokenBytes - 1) / maxTokenBytes;
    }

    /** Refuses, before tokenizing, a text of {@code bytes} bytes that cannot fit with {@code otherTokens} more. */
    private void refuseCertainOverflow(long bytes, long otherTokens, String what) {
        long least = minTokens(bytes);
        if (least + otherTokens > maxContext) {
            throw ApiError.badRequest("context_length_exceeded", what + " has " + bytes + " bytes of text, at least " + least
                    + " tokens with this model's vocabulary (a token stands for at most " + maxTokenBytes + " bytes), but this server takes at most "
                    + maxContext + " tokens per request, question and answer included (--max-context)");
        }
    }

    /**
     * Notices that the client of a non-streaming request closed its connection. Jetty reads a
     * connection again only after the answer is written, so a client that hangs up while its
     * answer is computed is seen by reading the connection here (the body has been read whole by
     * then): end of stream means it left. A byte of a next pipelined request is left unread by
     * Jetty then, so the connection is closed after the answer.
     */
    private static final class ClientWatch {
        private final EndPoint endPoint;
        private long nextCheck;
        private boolean gone, readAhead;

        ClientWatch(Request req) {
            this.endPoint = req.getConnectionMetaData().getConnection().getEndPoint();
        }

        synchronized boolean gone() {
            if (gone || readAhead) return gone;
            long now = System.nanoTime();
            if (now - nextCheck < 0) return false;
            nextCheck = now + Admission.POLL_NANOS;
            try {
                ByteBuffer b = BufferUtil.allocate(1);
                int n = endPoint.fill(b);
                if (n < 0 || !endPoint.isOpen()) gone = true;
                else if (n > 0) readAhead = true;
            } catch (IOException e) {
                gone = true;
            }
            return gone;
        }

        synchronized boolean readAhead() {
            return readAhead;
        }
    }

    private ObjectNode modelJson() {
        ObjectNode m = JSON.createObjectNode();
        m.put("id", modelId);
        m.put("object", "model");
        m.put("created", System.currentTimeMillis() / 1000);
        m.put("owned_by", "starattn");
        m.put("context_length", maxContext == Integer.MAX_VALUE ? 0 : maxContext);
        m.put("template", template.name());
        m.put("attention", engine.options().strategy().name());
        m.put("hosts", engine.options().hosts());
        return m;
    }

    // ---------------------------------------------------------------- documents

    private Document document(String id) {
        Document d = documents.get(id);
        if (d == null || d.removed) {
            throw ApiError.notFound("document_not_found", "no document '" + id + "' (it may have expired after its time to live, "
                    + cfg.documentTtl().toSeconds() + " s without use, or been deleted)");
        }
        return d;
    }

    private List<String> hostNames() {
        List<String> names = new ArrayList<>();
        int n = engine.options().hostsUsed();
        for (int i = 0; i < n; i++) names.add("host-" + i);
        return names;
    }

    private long kvEstimate(long tokens) {
        // GPU hosts keep K and V in bf16 whatever the CPU's KV types (DeviceKv): 2 bytes a value, as F16.
        var o = engine.options();
        if (engine.pipelines() != null) o = o.withKvTypes(dev.starattn.attention.KvType.F16, dev.starattn.attention.KvType.F16);
        return kvEstimate(model.config(), o, tokens);
    }

    /**
     * The exact KV bytes {@code tokens} tokens of a document take over all layers: a key row in
     * the key type plus a value row in the value type, Q8_0 block scales included.
     */
    static long kvEstimate(dev.starattn.model.LlamaConfig c, dev.starattn.engine.EngineOptions o, long tokens) {
        return tokens * c.layers() * (o.kvTypeK().rowBytes(c.kvDim()) + o.kvTypeV().rowBytes(c.kvDim()));
    }

    private Document createDocument(Request req) throws IOException {
        String type = mediaType(req);
        boolean json = "application/json".equals(type);
        if (!json && !"text/plain".equals(type)) throw unsupportedType(type, "Content-Type: application/json ({\"text\": ...}) or text/plain");
        byte[] b = body(req);
        String text, name = null;
        if (json) {
            JsonNode j;
            try {
                j = JSON.readTree(b);
            } catch (JsonProcessingException e) {
                throw ApiError.badRequest("invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage());
            }
            if (j == null || !j.isObject() || field(j, "text") == null) {
                throw ApiError.badRequest("missing_text", "send the document as {\"text\": \"...\"} (JSON) or as the plain-text body");
            }
            text = string(j, "text");
            name = string(j, "name");
        } else {
            text = new String(b, StandardCharsets.UTF_8);
        }
        b = null; // the text alone from here on
        if (text.isBlank()) throw ApiError.badRequest("empty_document", "the document is empty");
        if (name != null && name.length() > cfg.maxNameChars()) {
            throw ApiError.badField("name", "name_too_long", "the document name has " + name.length() + " characters; the limit is "
                    + cfg.maxNameChars() + " (--max-name-chars)");
        }
        long bytes = utf8Length(text);
        refuseCertainOverflow(bytes, 2, "the document");
        reserveDocument(bytes);
        boolean kept = false;
        try {
            int[] ctx = Prompt.of(model, template, text + "\n\n", "x").context();
            // one query token and one new token at least must still fit
            if ((long) ctx.length + 2 > maxContext) {
                throw ApiError.badRequest("context_length_exceeded", "the document has " + ctx.length
                        + " tokens but this server takes at most " + maxContext + " tokens per request, question and answer included (--max-context)");
            }
            // the sequence first: ids sort in creation order, which the listing's cursor relies on
            String id = String.format("doc-%010x%s", documentSeq.incrementAndGet(), HexFormat.of().formatHex(randomBytes(8)));
            Document d = new Document(id, name, ctx, text.length(), bytes, hostNames());
            long estimate = kvEstimate(ctx.length);
            budget.reserve(estimate, "the document");
            d.reservedBytes = estimate;
            Admission.Pending pending;
            try {
                pending = admission.admit(null);
            } catch (ApiError e) {
                budget.release(estimate);
                throw e;
            }
            documents.put(id, d);
            kept = true;
            Thread.ofVirtual().name("encode-" + id).start(() -> encodeDocument(d, pending));
            return d;
        } finally {
            if (!kept) unreserveDocument(bytes);
        }
    }

    /** Takes a place for a document of {@code bytes} text bytes in the store, or refuses (413, 507). */
    private void reserveDocument(long bytes) {
        if (bytes > cfg.maxDocumentBytes()) {
            throw new ApiError(413, "invalid_request_error", "document_too_large", "the document has " + bytes
                    + " bytes of text; the server holds at most " + cfg.maxDocumentBytes() + " bytes of documents (--max-document-bytes)");
        }
        synchronized (documentLimits) {
            if (documentsHeld >= cfg.maxDocuments()) {
                throw new ApiError(507, "server_error", "too_many_documents", "the server holds " + documentsHeld
                        + " documents, its limit (--max-documents); delete documents or retry after some expire");
            }
            if (documentBytesHeld + bytes > cfg.maxDocumentBytes()) {
                throw new ApiError(507, "server_error", "document_storage_full", "the document has " + bytes + " bytes of text; "
                        + (cfg.maxDocumentBytes() - documentBytesHeld) + " of the " + cfg.maxDocumentBytes()
                        + " bytes for documents (--max-document-bytes) are free; delete documents or retry after some expire");
            }
            documentsHeld++;
            documentBytesHeld += bytes;
        }
    }

    private void unreserveDocument(long bytes) {
        synchronized (documentLimits) {
            documentsHeld--;
            documentBytesHeld -= bytes;
        }
    }

    /** {@code GET /v1/documents?limit=&after=}: a page in creation order, OpenAI's list shape. */
    private ObjectNode listDocuments(Request req) {
        Fields q = Request.extractQueryParameters(req);
        int limit = 20;
        String l = q.getValue("limit");
        if (l != null) {
            try {
                limit = Integer.parseInt(l.strip());
            } catch (NumberFormatException e) {
                limit = -1;
            }
            if (limit < 1 || limit > 100) throw ApiError.badField("limit", "invalid_limit", "limit must be a whole number from 1 to 100, got " + Printable.quote(l));
        }
        String after = q.getValue("after");
        List<Document> rest = documents.values().stream().filter(d -> after == null || d.id.compareTo(after) > 0)
                .sorted((x, y) -> x.id.compareTo(y.id)).limit(limit + 1L).toList();
        List<Document> page = rest.subList(0, Math.min(limit, rest.size()));
        ObjectNode j = JSON.createObjectNode();
        j.put("object", "list");
        ArrayNode a = j.putArray("data");
        page.forEach(d -> a.add(documentJson(d)));
        boolean more = rest.size() > limit;
        if (page.isEmpty()) {
            j.putNull("first_id");
            j.putNull("last_id");
        } else {
            j.put("first_id", page.getFirst().id);
            j.put("last_id", page.getLast().id);
        }
        j.put("has_more", more);
        if (more) j.put("next", page.getLast().id);
        else j.putNull("next");
        return j;
    }

    private void encodeDocument(Document d, Admission.Pending pending) {
        try (Admission.Ticket t = pending.await(System.nanoTime() + TimeUnit.DAYS.toNanos(365))) {
            if (d.removed) throw new CancelledException();
            d.status = Document.Status.ENCODING;
            d.version++;
            long t0 = System.nanoTime();
            EncodedContext ctx = encode(d.contextTokens, (host, done, total, tokens) -> {
                d.blockDone(host, done, total, tokens);
                if (d.removed) throw new CancelledException();
            });
            d.phase1Nanos = System.nanoTime() - t0;
            d.phase1CriticalNanos = ctx.phase1CriticalPathNanos();
            long actual = ctx.hosts().stream().mapToLong(ContextHost::kvBytes).sum();
            synchronized (d) {
                if (d.removed) {
                    release(ctx);
                    throw new CancelledException();
                }
                d.context = ctx;
                budget.adjust(d.reservedBytes, actual);
                d.reservedBytes = actual;
                d.status = Document.Status.READY;
                d.touch();
                d.version++;
            }
            d.ready.complete(ctx);
        } catch (CancelledException e) {
            d.ready.completeExceptionally(ApiError.notFound("document_not_found", "the document was deleted"));
            synchronized (d) {
                budget.release(d.reservedBytes);
                d.reservedBytes = 0;
            }
        } catch (Throwable e) {
            d.error = e.getMessage() != null ? e.getMessage() : e.toString();
            d.status = Document.Status.FAILED;
            synchronized (d) {
                budget.release(d.reservedBytes);
                d.reservedBytes = 0;
            }
            d.touch();
            d.version++;
            d.ready.completeExceptionally(e instanceof ApiError a ? a
                    : new ApiError(500, "server_error", "document_failed", "encoding the document failed: " + d.error));
        }
    }

    private static final class CancelledException extends RuntimeException {
        CancelledException() {
            super("cancelled", null, false, false);
        }
    }

    /** Phase 1 with metrics: per-host progress and times. */
    private EncodedContext encode(int[] tokens, ProgressListener progress) {
        Set<String> pendingHosts = ConcurrentHashMap.newKeySet();
        for (String h : hostNames()) {
            pendingHosts.add(h);
            metrics.host(h).encoding.incrementAndGet();
        }
        long t0 = System.nanoTime();
        try {
            // Documents vary in length: a short one runs on as many hosts as it can be split into.
            EncodedContext ctx = engine.fittedTo(tokens.length).encode(tokens, (host, done, total, n) -> {
                metrics.host(host).blocks.increment();
                if (done == total && pendingHosts.remove(host)) metrics.host(host).encoding.decrementAndGet();
                progress.blockDone(host, done, total, n);
            });
            live.add(ctx);
            metrics.phase1.observe((System.nanoTime() - t0) / 1e9);
            metrics.promptTokens.add(tokens.length);
            for (ContextHost h : ctx.hosts()) metrics.host(h.name()).phase1Seconds.add(h.stats().phase1Nanos / 1e9);
            return ctx;
        } finally {
            for (String h : pendingHosts) metrics.host(h).encoding.decrementAndGet();
        }
    }

    private void release(EncodedContext ctx) {
        live.remove(ctx);
        ctx.release();
    }

    /** Removes a document; waits for a query running on it to finish before freeing its KV. */
    private void deleteDocument(String id) {
        Document d = documents.remove(id);
        if (d == null) return;
        unreserveDocument(d.bytes);
        d.removed = true;
        d.lock.lock();
        try {
            synchronized (d) {
                if (d.context != null) {
                    release(d.context);
                    d.context = null;
                    budget.release(d.reservedBytes);
                    d.reservedBytes = 0;
                }
                // still encoding: the encoder sees 'removed' and gives back its reservation itself
            }
        } finally {
            d.lock.unlock();
        }
    }

    private void expireDocuments() {
        long ttl = cfg.documentTtl().toNanos();
        long now = System.nanoTime();
        for (Document d : documents.values()) {
            if (d.status == Document.Status.QUEUED || d.status == Document.Status.ENCODING) continue;
            if (now - d.lastUsedNanos < ttl) continue;
            if (d.lock.hasQueuedThreads() || !d.lock.tryLock()) continue; // answering or about to: not idle
            try {
                if (documents.remove(d.id, d)) {
                    unreserveDocument(d.bytes);
                    d.removed = true;
                    synchronized (d) {
                        if (d.context != null) {
                            release(d.context);
                            d.context = null;
                        }
                        budget.release(d.reservedBytes);
                        d.reservedBytes = 0;
                    }
                }
            } finally {
                d.lock.unlock();
            }
        }
    }

    private ObjectNode documentJson(Document d) {
        ObjectNode j = JSON.createObjectNode();
        j.put("id", d.id);
        j.put("object", "document");
        if (d.name != null) j.put("name", d.name);
        j.put("status", d.status.name().toLowerCase());
        j.put("created", d.createdEpochS);
        j.put("chars", d.chars);
        j.put("context_tokens", d.contextTokens.length);
        j.put("kv_bytes", d.kvBytes());
        long idleNs = System.nanoTime() - d.lastUsedNanos;
        j.put("expires_in_s", Math.max(0, (cfg.documentTtl().toNanos() - idleNs) / 1e9));
        if (d.error != null) j.put("error", d.error);
        ArrayNode hosts = j.putArray("hosts");
        synchronized (d) {
            d.progress.forEach((name, p) -> {
                ObjectNode h = hosts.addObject();
                h.put("name", name);
                h.put("blocks_done", p.done);
                h.put("blocks_total", p.total);
                h.put("tokens", p.tokens);
            });
        }
        EncodedContext c = d.context;
        if (c != null) {
            for (int i = 0; i < c.hosts().size() && i < hosts.size(); i++) {
                ContextHost h = c.hosts().get(i);
                for (JsonNode hn : hosts) {
                    if (hn.get("name").asText().equals(h.name())) {
                        ((ObjectNode) hn).put("kv_bytes", h.kvBytes());
                        ((ObjectNode) hn).put("phase1_ms", h.stats().phase1Nanos / 1e6);
                        ((ObjectNode) hn).put("query_host", h == c.queryHost());
                    }
                }
            }
        }
        if (d.status == Document.Status.READY) {
            ObjectNode t = j.putObject("timing");
            t.put("phase1_ms", d.phase1Nanos / 1e6);
            t.put("phase1_critical_path_ms", d.phase1CriticalNanos / 1e6);
        }
        return j;
    }

    /** Server-sent events: the document's state whenever it changes, until it is ready or failed. */
    private void documentEvents(Document d, Response resp, Callback cb) {
        resp.setStatus(200);
        resp.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        long deadline = System.nanoTime() + cfg.timeout().toNanos() + TimeUnit.SECONDS.toNanos(600);
        try (OutputStream out = Content.Sink.asOutputStream(resp)) {
            int seen = -1;
            long lastBeat = System.nanoTime();
            while (true) {
                int v = d.version;
                Document.Status s = d.status;
                if (v != seen || d.removed) {
                    seen = v;
                    String event = d.removed ? "deleted" : s == Document.Status.READY ? "ready" : s == Document.Status.FAILED ? "failed" : "progress";
                    out.write(("event: " + event + "\ndata: " + JSON.writeValueAsString(documentJson(d)) + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastBeat = System.nanoTime();
                    if (!event.equals("progress")) break;
                } else if (System.nanoTime() - lastBeat > TimeUnit.SECONDS.toNanos(10)) {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastBeat = System.nanoTime();
                }
                if (System.nanoTime() > deadline) break;
                Thread.sleep(50);
            }
            out.close();
            cb.succeeded();
        } catch (IOException e) {
            cb.failed(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cb.failed(e);
        }
    }

    // ---------------------------------------------------------------- completions

    /** What to run: a document's context or a context of its own, then a query. */
    private record Job(Document doc, int[] context, int[] query) {}

    private int complete(Request req, Response resp, Callback cb, boolean chat, Exchange ex) throws IOException {
        long t0 = System.nanoTime();
        long deadline = t0 + cfg.timeout().toNanos();
        JsonNode body = jsonBody(req);
        ClientWatch client = new ClientWatch(req);
        if (integer(body, "n", 1) != 1) throw ApiError.badField("n", "unsupported_n", "n must be 1");
        boolean stream = bool(body, "stream", false);
        JsonNode so = field(body, "stream_options");
        if (so != null && !so.isObject()) throw wrongType("stream_options", "an object", so);
        boolean includeUsage = so != null && bool(so, "include_usage", false);
        String maxField = field(body, "max_completion_tokens") != null ? "max_completion_tokens" : "max_tokens";
        boolean explicitMax = field(body, maxField) != null;
        long askedMax = integer(body, maxField, cfg.defaultMaxTokens());
        if (askedMax < 1) throw ApiError.badField(maxField, "invalid_max_tokens", maxField + " must be at least 1, got " + askedMax);
        if (askedMax > maxContext) {
            throw ApiError.badField(maxField, "invalid_max_tokens", maxField + " " + Printable.escape(field(body, maxField).asText(), 40)
                    + " is too large: this server takes at most " + maxContext + " tokens per request, context and answer included (--max-context)");
        }
        int maxNew = (int) askedMax;
        double temperature = number(body, "temperature", 0), topP = number(body, "top_p", 1);
        long seed = integer(body, "seed", 0);
        SamplingOptions sampling;
        try {
            sampling = new SamplingOptions((float) temperature, (float) topP, seed);
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest("invalid_sampling", e.getMessage().replace("--temperature", "temperature").replace("--top-p", "top_p"));
        }
        List<String> stops = new ArrayList<>();
        JsonNode stop = field(body, "stop");
        if (stop != null && stop.isTextual()) stops.add(stop.asText());
        else if (stop != null && stop.isArray() && stop.size() <= MAX_STOPS) {
            for (JsonNode sn : stop) {
                if (!sn.isTextual()) throw wrongType("stop", "a string or an array of strings", stop);
                stops.add(sn.asText());
            }
        } else if (stop != null) {
            throw wrongType("stop", "a string or an array of at most " + MAX_STOPS + " strings", stop);
        }
        Document doc = null;
        String docId = string(body, "document_id");
        if (docId != null) {
            doc = document(docId);
            doc.touch(); // a question waiting for the document is a use: it must not expire under it
        }
        Job job = chat ? chatJob(body, doc, explicitMax ? maxNew : 1) : completionJob(body, doc, explicitMax ? maxNew : 1);
        body = null; // the tokens alone from here on
        int ctxLen = doc != null ? doc.contextTokens.length : job.context.length;
        ex.promptTokens = (long) ctxLen + job.query.length;
        long need = (long) ctxLen + job.query.length + maxNew;
        if (need > maxContext) {
            int room = maxContext - ctxLen - job.query.length;
            if (!explicitMax && room >= 1) {
                maxNew = room; // the default shrinks to what fits; an explicit one is an error
                need = maxContext;
            } else {
                throw ApiError.badRequest("context_length_exceeded", "this request needs " + need + " tokens ("
                        + ctxLen + " context + " + job.query.length + " query + " + maxNew
                        + " new) but the server takes at most " + maxContext + " (--max-context); shorten the input or lower max_tokens");
            }
        }

        Admission.Pending pending;
        long reserved = 0;
        if (doc == null) {
            reserved = kvEstimate(need);
            budget.reserve(reserved, "the request");
        }
        EncodedContext ctx = null;
        try {
            if (doc != null) awaitDocument(doc, deadline, client);
            pending = admission.admit(doc != null ? doc.lock : null);
            try (Admission.Ticket ticket = pending.await(deadline, client::gone)) {
                long queued = System.nanoTime() - t0;
                boolean ownContext = doc == null;
                long phase1Nanos;
                if (doc != null) {
                    if (doc.removed || doc.context == null) {
                        throw ApiError.notFound("document_not_found", "the document '" + doc.id + "' expired or was deleted");
                    }
                    ctx = doc.context;
                    doc.touch();
                    phase1Nanos = doc.phase1Nanos;
                } else {
                    long p1 = System.nanoTime();
                    ctx = encode(job.context, (host, done, total, n) -> {
                        if (System.nanoTime() > deadline) throw ApiError.timeout("during phase 1 (context encoding)");
                        if (client.gone()) throw ApiError.clientGone();
                    });
                    phase1Nanos = System.nanoTime() - p1;
                }
                Sink sink = stream ? new SseSink(resp, chat, includeUsage) : new BufferSink(client);
                String status = run(job, ctx, doc, sampling, maxNew, stops, deadline, sink, queued, phase1Nanos, ownContext, ex);
                if (doc != null) doc.touch();
                if (!stream) {
                    BufferSink b = (BufferSink) sink;
                    if (status.equals("gone")) throw ApiError.clientGone();
                    if (status.equals("timeout")) throw ApiError.timeout("during generation (--timeout-s " + cfg.timeout().toSeconds() + ")");
                    if (client.readAhead()) resp.getHeaders().put(HttpHeader.CONNECTION, "close");
                    json(resp, cb, 200, b.response(chat));
                } else if (status.equals("gone")) {
                    cb.failed(new IOException("the client went away during the stream"));
                    return 499;
                } else {
                    ((SseSink) sink).close();
                    cb.succeeded();
                }
                return 200;
            }
        } finally {
            if (doc == null) {
                if (ctx != null) release(ctx);
                budget.release(reserved);
            }
        }
    }

    /** Most stop strings a request may give. */
    private static final int MAX_STOPS = 16;

    /** Waits (within the deadline) for a document still being encoded; gives up when the client leaves. */
    private static void awaitDocument(Document doc, long deadline, ClientWatch client) {
        while (true) {
            long left = deadline - System.nanoTime();
            try {
                doc.ready.get(Math.clamp(left, 0, Admission.POLL_NANOS), TimeUnit.NANOSECONDS);
                return;
            } catch (java.util.concurrent.TimeoutException e) {
                if (left <= Admission.POLL_NANOS) throw ApiError.timeout("waiting for its document to be encoded");
                if (client.gone()) throw ApiError.clientGone();
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof ApiError a) throw a;
                throw new ApiError(409, "invalid_request_error", "document_failed", "the document could not be encoded: " + doc.error);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw ApiError.timeout("(interrupted)");
            }
        }
    }

    /** {@code newTokens}: the fewest new tokens the request asks for, for the check before tokenizing. */
    private Job chatJob(JsonNode body, Document doc, int newTokens) {
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.badField("messages", "missing_messages", "messages must be a non-empty array of {role, content}");
        }
        List<String> texts = new ArrayList<>();
        long bytes = 0;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            if (!m.isObject()) throw wrongType("messages[" + i + "]", "an object {role, content}", m);
            if (string(m, "role") == null) throw ApiError.badField("messages[" + i + "].role", "missing_role", "messages[" + i + "] has no role");
            String t = contentText(m.get("content"), i);
            texts.add(t);
            bytes += utf8Length(t);
        }
        refuseCertainOverflow(bytes, (doc != null ? doc.contextTokens.length : 0) + newTokens, "the request");
        JsonNode last = messages.get(messages.size() - 1);
        if (!"user".equals(last.path("role").asText())) {
            throw ApiError.badRequest("last_message_not_user", "the last message must be the user's question (role 'user')");
        }
        String query = texts.getLast();
        if (query.isBlank()) throw ApiError.badRequest("empty_query", "the last user message is empty");
        String earlier = String.join("\n\n", texts.subList(0, texts.size() - 1).stream().filter(s -> !s.isBlank()).toList());
        if (earlier.isEmpty() && doc == null) {
            // One message holding document and question: its last paragraph is the question, the rest
            // the context (so that the long part is spread over the hosts, not all run in phase 2).
            String trimmed = query.stripTrailing();
            int cut = trimmed.lastIndexOf("\n\n");
            if (cut > 0 && !trimmed.substring(cut).isBlank()) {
                earlier = trimmed.substring(0, cut);
                query = trimmed.substring(cut + 2).strip();
            }
        }
        var tok = model.tokenizer();
        if (doc != null) {
            String q = (earlier.isEmpty() ? "" : earlier + "\n\n") + query;
            return new Job(doc, null, tok.encodeWithSpecialTokens(q + template.suffix()));
        }
        Prompt p = Prompt.of(model, template, earlier.isEmpty() ? "" : earlier + "\n\n", query);
        int[] ctx = p.context(), q = p.query();
        if (ctx.length == 0) { // no BOS and nothing before the question: its first token stands in as the context
            ctx = Arrays.copyOf(q, 1);
            q = Arrays.copyOfRange(q, 1, q.length);
            if (q.length == 0) throw ApiError.badRequest("query_too_short", "the question needs at least two tokens");
        }
        return new Job(null, ctx, q);
    }

    private Job completionJob(JsonNode body, Document doc, int newTokens) {
        JsonNode pj = body.get("prompt");
        String prompt = pj == null ? null : pj.isTextual() ? pj.asText() : pj.isArray() && pj.size() == 1 && pj.get(0).isTextual() ? pj.get(0).asText() : null;
        if (prompt == null) throw ApiError.badField("prompt", "invalid_prompt", "prompt must be a string (or an array of one string)");
        if (prompt.isEmpty()) throw ApiError.badField("prompt", "empty_prompt", "the prompt is empty");
        refuseCertainOverflow(utf8Length(prompt), (doc != null ? doc.contextTokens.length : 0) + newTokens, "the prompt");
        var tok = model.tokenizer();
        if (doc != null) return new Job(doc, null, tok.encodeWithSpecialTokens(prompt));
        // A plain completion has no question: the prompt's last tokens play the query (phase 2).
        int[] all = Prompt.of(model, PromptTemplate.BASE, prompt, "").context();
        if (all.length < 2) throw ApiError.badRequest("prompt_too_short", "the prompt needs at least two tokens");
        int q = Math.clamp(all.length / 8, 1, 32);
        return new Job(null, Arrays.copyOf(all, all.length - q), Arrays.copyOfRange(all, all.length - q, all.length));
    }

    private static String contentText(JsonNode c, int message) {
        String name = "messages[" + message + "].content";
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder b = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText())) {
                    throw ApiError.badField(name, "unsupported_content", "only text content parts are supported (" + name + ")");
                }
                JsonNode t = part.get("text");
                if (t == null || !t.isTextual()) throw ApiError.badField(name, "invalid_content", "a text part of " + name + " needs \"text\": a string");
                b.append(t.textValue());
            }
            return b.toString();
        }
        throw wrongType(name, "a string or an array of text parts", c);
    }

    /** Where the answer goes: one JSON body, or server-sent events. */
    private interface Sink {
        void delta(String text) throws IOException;

        /** After the last delta; false when the client has gone. */
        boolean alive();

        void finish(String finishReason, ObjectNode usage, ObjectNode extra) throws IOException;

        void error(ApiError e) throws IOException;
    }

    private final class BufferSink implements Sink {
        final ClientWatch client;
        final StringBuilder text = new StringBuilder();
        final String id = "cmpl-" + HexFormat.of().formatHex(randomBytes(12));
        String finishReason;
        ObjectNode usage, extra;

        @Override
        public void delta(String t) {
            text.append(t);
        }

        BufferSink(ClientWatch client) {
            this.client = client;
        }

        @Override
        public boolean alive() {
            return !client.gone();
        }

        @Override
        public void finish(String finishReason, ObjectNode usage, ObjectNode extra) {
            this.finishReason = finishReason;
            this.usage = usage;
            this.extra = extra;
        }

        @Override
        public void error(ApiError e) {
            throw e;
        }

        ObjectNode response(boolean chat) {
            ObjectNode j = JSON.createObjectNode();
            j.put("id", (chat ? "chatcmpl-" : "cmpl-") + id.substring(5));
            j.put("object", chat ? "chat.completion" : "text_completion");
            j.put("created", System.currentTimeMillis() / 1000);
            j.put("model", modelId);
            ObjectNode c = j.putArray("choices").addObject();
            c.put("index", 0);
            if (chat) {
                ObjectNode m = c.putObject("message");
                m.put("role", "assistant");
                m.put("content", text.toString());
            } else {
                c.put("text", text.toString());
                c.putNull("logprobs");
            }
            c.put("finish_reason", finishReason);
            j.set("usage", usage);
            j.set("starattn", extra);
            return j;
        }
    }

    /** OpenAI's streaming format: {@code data: <chunk>} events, then {@code data: [DONE]}. */
    private final class SseSink implements Sink {
        final Response resp;
        final boolean chat, includeUsage;
        final String id;
        final long created = System.currentTimeMillis() / 1000;
        OutputStream out;
        boolean gone, first = true;

        SseSink(Response resp, boolean chat, boolean includeUsage) {
            this.resp = resp;
            this.chat = chat;
            this.includeUsage = includeUsage;
            this.id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().formatHex(randomBytes(12));
        }

        private void open() {
            if (out != null) return;
            resp.setStatus(200);
            resp.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
            resp.getHeaders().put("X-Accel-Buffering", "no");
            out = Content.Sink.asOutputStream(resp);
        }

        private ObjectNode chunk() {
            ObjectNode j = JSON.createObjectNode();
            j.put("id", id);
            j.put("object", chat ? "chat.completion.chunk" : "text_completion");
            j.put("created", created);
            j.put("model", modelId);
            return j;
        }

        private ObjectNode choice(ObjectNode chunk, String text, String finishReason) {
            ObjectNode c = chunk.putArray("choices").addObject();
            c.put("index", 0);
            if (chat) {
                ObjectNode d = c.putObject("delta");
                if (first) d.put("role", "assistant");
                if (text != null) d.put("content", text);
            } else {
                c.put("text", text == null ? "" : text);
                c.putNull("logprobs");
            }
            first = false;
            if (finishReason == null) c.putNull("finish_reason");
            else c.put("finish_reason", finishReason);
            return c;
        }

        private void send(String data) throws IOException {
            if (gone) return;
            open();
            try {
                out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                gone = true;
                throw e;
            }
        }

        void start() throws IOException {
            if (!chat) return;
            ObjectNode c = chunk();
            choice(c, "", null);
            if (includeUsage) c.putNull("usage");
            send(JSON.writeValueAsString(c));
        }

        @Override
        public void delta(String text) throws IOException {
            if (text.isEmpty()) return;
            if (first) start();
            ObjectNode c = chunk();
            choice(c, text, null);
            if (includeUsage) c.putNull("usage");
            send(JSON.writeValueAsString(c));
        }

        @Override
        public boolean alive() {
            return !gone;
        }

        @Override
        public void finish(String finishReason, ObjectNode usage, ObjectNode extra) throws IOException {
            if (first) start();
            ObjectNode c = chunk();
            choice(c, null, finishReason);
            c.set("starattn", extra);
            if (includeUsage) c.putNull("usage");
            send(JSON.writeValueAsString(c));
            if (includeUsage) {
                ObjectNode u = chunk();
                u.putArray("choices");
                u.set("usage", usage);
                send(JSON.writeValueAsString(u));
            }
            send("[DONE]");
        }

        @Override
        public void error(ApiError e) throws IOException {
            ObjectNode j = JSON.createObjectNode();
            ObjectNode err = j.putObject("error");
            err.put("message", e.getMessage());
            err.put("type", e.type);
            err.put("code", e.code);
            send(JSON.writeValueAsString(j));
            send("[DONE]");
        }

        void close() throws IOException {
            open();
            if (!gone) out.close();
        }
    }

    /** Phase 2: generates into the sink; returns "stop", "length" or "timeout". */
    private String run(Job job, EncodedContext ctx, Document doc, SamplingOptions sampling, int maxNew, List<String> stops,
                       long deadline, Sink sink, long queuedNanos, long phase1Nanos, boolean ownContext, Exchange ex) throws IOException {
        var tok = model.tokenizer();
        TokenStreamDecoder dec = new TokenStreamDecoder(tok, false);
        StopMatcher matcher = new StopMatcher(stops);
        boolean[] timedOut = {false};
        IOException[] ioError = {null};
        GenerationResult r = engine.generate(ctx, job.query, sampling, maxNew, id -> {
            if (tok.isEndOfGeneration(id) || matcher.stopped() || !sink.alive() || ioError[0] != null) return true;
            if (System.nanoTime() > deadline) {
                timedOut[0] = true;
                return true;
            }
            return false;
        }, id -> {
            String out = matcher.accept(dec.feed(id));
            try {
                sink.delta(out);
            } catch (IOException e) {
                ioError[0] = e;
            }
        });
        ex.completionTokens = r.tokens().length;
        if (ioError[0] != null || !sink.alive()) {
            return "gone";
        }
        sink.delta(matcher.finish(dec.finish()));
        metrics.phase2.observe(r.phase2Nanos() / 1e9);
        metrics.ttft.observe(r.ttftNanos() / 1e9);
        metrics.tokensPerSecond(r.decodeTokensPerSecond());
        metrics.generatedTokens.add(r.tokens().length);
        metrics.promptTokens.add(job.query.length);
        for (HostStats h : r.hosts()) metrics.host(h.name).phase2Seconds.add(h.phase2Nanos / 1e9);
        String finish = timedOut[0] ? "timeout" : ("stop".equals(r.stopReason()) || matcher.stopped()) ? "stop" : "length";
        ObjectNode usage = JSON.createObjectNode();
        usage.put("prompt_tokens", ctx.length() + job.query.length);
        usage.put("completion_tokens", r.tokens().length);
        usage.put("total_tokens", ctx.length() + job.query.length + r.tokens().length);
        ObjectNode extra = JSON.createObjectNode();
        if (doc != null) extra.put("document_id", doc.id);
        extra.put("attention", engine.options().strategy().name());
        extra.put("context_tokens", ctx.length());
        extra.put("query_tokens", job.query.length);
        ObjectNode t = extra.putObject("timing");
        t.put("queue_ms", queuedNanos / 1e6);
        t.put("phase1_ms", phase1Nanos / 1e6);
        t.put("phase1_reused", !ownContext);
        t.put("phase2_ms", r.phase2Nanos() / 1e6);
        t.put("ttft_ms", r.ttftNanos() / 1e6);
        t.put("decode_tokens_per_s", r.decodeTokensPerSecond());
        ArrayNode hosts = extra.putArray("hosts");
        for (int i = 0; i < ctx.hosts().size(); i++) {
            ContextHost h = ctx.hosts().get(i);
            ObjectNode hj = hosts.addObject();
            hj.put("name", h.name());
            hj.put("query_host", h == ctx.queryHost());
            hj.put("tokens", h.stats().tokens);
            hj.put("kv_bytes", h.kvBytes());
            hj.put("phase1_ms", h.stats().phase1Nanos / 1e6);
            hj.put("phase2_ms", h.stats().phase2Nanos / 1e6);
        }
        if (timedOut[0]) {
            sink.error(ApiError.timeout("during generation (--timeout-s " + cfg.timeout().toSeconds() + ")"));
            return "timeout";
        }
        sink.finish(finish, usage, extra);
        return finish;
    }

    // ---------------------------------------------------------------- metrics

    private String renderMetrics() {
        Map<String, Supplier<Number>> g = new LinkedHashMap<>();
        g.put("starattn_queue_depth|Requests waiting for a slot or for their document.", admission::waiting);
        g.put("starattn_running_requests|Requests (and document encodings) running now.", admission::running);
        g.put("starattn_documents|Documents held (any status).", documents::size);
        g.put("starattn_documents_ready|Documents encoded and ready for questions.",
                () -> documents.values().stream().filter(d -> d.status == Document.Status.READY).count());
        g.put("starattn_memory_budget_bytes|KV memory budget (--memory-budget).", budget::capacity);
        g.put("starattn_memory_used_bytes|KV bytes reserved by documents and running requests.", budget::used);
        if (engine.blockCache() != null) {
            var cache = engine.blockCache();
            g.put("starattn_block_cache_hits|Star blocks taken from the block cache instead of encoded (memory or disk).", () -> cache.stats().hits());
            g.put("starattn_block_cache_misses|Star blocks encoded because the block cache lacked them.", () -> cache.stats().misses());
            g.put("starattn_block_cache_memory_bytes|Bytes the block cache holds in memory.", () -> cache.stats().memoryBytes());
            g.put("starattn_block_cache_disk_bytes|Bytes of block files in --cache-dir.", () -> cache.stats().diskBytes());
        }
        Map<String, Long> hostKv = new LinkedHashMap<>();
        for (String h : hostNames()) hostKv.put(h, 0L);
        for (EncodedContext c : live) {
            for (ContextHost h : c.hosts()) hostKv.merge(h.name(), h.kvBytes(), Long::sum);
        }
        return metrics.render(g, hostKv);
    }

    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }
}
