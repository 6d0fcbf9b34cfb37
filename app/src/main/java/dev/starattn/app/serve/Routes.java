package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.format.Printable;
import java.util.concurrent.Semaphore;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Dispatches method and path to the handlers, after the access checks; answers errors in OpenAI's
 * shape, and counts and logs every request. Routing ten paths by hand is less code than
 * configuring a framework.
 */
final class Routes {
    private static final String API_DOCS = "see GET / for the web page and docs/SERVE.md for the API";

    private final ServedModel served;
    private final AccessChecks access;
    private final Admission admission;
    private final DocumentStore documents;
    private final DocumentHandler documentHandler;
    private final CompletionHandler completions;
    private final MetricsPage metricsPage;
    private final Metrics metrics;
    private final RequestLog log;
    /**
     * Requests with a body that are being read, parsed or served at once: {@code --max-concurrent +
     * --queue}. Each holds at most {@code --max-body-bytes} of body and what it parses to, so the
     * heap those take is bounded however many clients connect; one more is answered 429.
     */
    private final Semaphore intake;
    private final int intakeCapacity;

    Routes(ServerConfig cfg, ServedModel served, AccessChecks access, Admission admission, DocumentStore documents,
           DocumentHandler documentHandler, CompletionHandler completions, MetricsPage metricsPage, Metrics metrics, RequestLog log) {
        this.served = served;
        this.access = access;
        this.admission = admission;
        this.documents = documents;
        this.documentHandler = documentHandler;
        this.completions = completions;
        this.metricsPage = metricsPage;
        this.metrics = metrics;
        this.log = log;
        this.intakeCapacity = cfg.maxConcurrent() + cfg.queue();
        this.intake = new Semaphore(intakeCapacity);
    }

    /** Requests with a body being read or served now (see {@link #intake}). */
    int bodiesInFlight() {
        return intakeCapacity - intake.availablePermits();
    }

    void route(Request req, Response resp, Callback cb) {
        long t0 = System.nanoTime();
        String path = Request.getPathInContext(req);
        String method = req.getMethod();
        String endpoint = endpointName(path);
        RequestLog.Exchange ex = new RequestLog.Exchange();
        int status = 200;
        boolean tookIntake = false;
        try {
            access.checkHost(req);
            if (access.checkOrigin(req, resp, cb, method)) {
                status = 204;
                return;
            }
            if (path.equals("/") || path.equals("/index.html")) {
                requireMethod(method, "GET");
                Responses.staticResource(resp, cb, "index.html", "text/html; charset=utf-8");
                return;
            }
            if (path.equals("/app.js")) {
                requireMethod(method, "GET");
                Responses.staticResource(resp, cb, "app.js", "text/javascript; charset=utf-8");
                return;
            }
            if (path.equals("/health")) {
                requireMethod(method, "GET");
                ObjectNode j = Responses.JSON.createObjectNode();
                j.put("status", "ok");
                j.put("model", served.id());
                j.put("documents", documents.size());
                j.put("running", admission.running());
                j.put("queue_depth", admission.waiting());
                Responses.json(resp, cb, 200, j);
                return;
            }
            if (!path.startsWith("/v1/") && !path.equals("/metrics")) throw ApiError.notFound("not_found", "no such path: " + Printable.escape(path) + "; " + API_DOCS);
            access.authorize(req);
            if (method.equals("POST")) {
                if (!intake.tryAcquire()) throw ApiError.queueFull();
                tookIntake = true;
            }
            switch (path) {
                case "/metrics" -> {
                    requireMethod(method, "GET");
                    Responses.text(resp, cb, 200, "text/plain; version=0.0.4; charset=utf-8", metricsPage.render());
                }
                case "/v1/models" -> {
                    requireMethod(method, "GET");
                    ObjectNode j = Responses.JSON.createObjectNode();
                    j.put("object", "list");
                    j.putArray("data").add(served.json());
                    Responses.json(resp, cb, 200, j);
                }
                case "/v1/chat/completions" -> {
                    requireMethod(method, "POST");
                    status = completions.complete(req, resp, cb, true, ex);
                }
                case "/v1/completions" -> {
                    requireMethod(method, "POST");
                    status = completions.complete(req, resp, cb, false, ex);
                }
                case "/v1/documents" -> {
                    if (method.equals("GET")) {
                        Responses.json(resp, cb, 200, documentHandler.list(req));
                    } else {
                        requireMethod(method, "POST");
                        status = 202;
                        Document d = documentHandler.create(req);
                        ex.promptTokens = d.contextTokens.length;
                        Responses.json(resp, cb, 202, documentHandler.json(d));
                    }
                }
                default -> {
                    if (path.equals("/v1/models/" + served.id())) {
                        requireMethod(method, "GET");
                        Responses.json(resp, cb, 200, served.json());
                    } else if (path.startsWith("/v1/documents/")) {
                        String rest = path.substring("/v1/documents/".length());
                        if (rest.endsWith("/events")) {
                            requireMethod(method, "GET");
                            documentHandler.events(documents.get(rest.substring(0, rest.length() - "/events".length())), resp, cb);
                        } else if (method.equals("DELETE")) {
                            Responses.json(resp, cb, 200, documentHandler.delete(rest));
                        } else {
                            requireMethod(method, "GET");
                            Responses.json(resp, cb, 200, documentHandler.json(documents.get(rest)));
                        }
                    } else {
                        throw ApiError.notFound("not_found", "no such path: " + Printable.escape(path) + "; " + API_DOCS);
                    }
                }
            }
        } catch (ApiError e) {
            status = e.status;
            Responses.error(resp, cb, e);
        } catch (Throwable t) {
            status = 500;
            Responses.error(resp, cb, new ApiError(500, "server_error", "internal_error",
                    "the server failed: " + (t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName())));
        } finally {
            if (tookIntake) intake.release();
            metrics.request(endpoint, status);
            log.write(method, path, status, ex, t0);
        }
    }

    /** The path with ids replaced, as the metrics label it. */
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
}
