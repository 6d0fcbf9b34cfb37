package dev.starattn.app.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.format.Printable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;

/** The /v1/documents endpoints: upload, listing, a document's state as JSON, and its progress events. */
final class DocumentHandler {
    private final ServerConfig cfg;
    private final DocumentStore store;
    private final RequestBodies bodies;

    DocumentHandler(ServerConfig cfg, DocumentStore store, RequestBodies bodies) {
        this.cfg = cfg;
        this.store = store;
        this.bodies = bodies;
    }

    /** {@code POST /v1/documents}: {"text", "name"} as JSON, or the text as text/plain. */
    Document create(Request req) throws IOException {
        String type = RequestBodies.mediaType(req);
        boolean json = "application/json".equals(type);
        if (!json && !"text/plain".equals(type)) {
            throw RequestBodies.unsupportedType(type, "Content-Type: application/json ({\"text\": ...}) or text/plain");
        }
        byte[] b = bodies.body(req);
        String text, name = null;
        if (json) {
            JsonNode j;
            try {
                j = Responses.JSON.readTree(b);
            } catch (JsonProcessingException e) {
                throw ApiError.badRequest("invalid_json", "the request body is not valid JSON: " + e.getOriginalMessage());
            }
            if (j == null || !j.isObject() || RequestFields.field(j, "text") == null) {
                throw ApiError.badRequest("missing_text", "send the document as {\"text\": \"...\"} (JSON) or as the plain-text body");
            }
            text = RequestFields.string(j, "text");
            name = RequestFields.string(j, "name");
        } else {
            text = new String(b, StandardCharsets.UTF_8);
        }
        b = null; // the text alone from here on
        return store.create(text, name);
    }

    /** {@code GET /v1/documents?limit=&after=}: a page in creation order, OpenAI's list shape. */
    ObjectNode list(Request req) {
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
        DocumentStore.Page p = store.page(limit, q.getValue("after"));
        var page = p.documents();
        ObjectNode j = Responses.JSON.createObjectNode();
        j.put("object", "list");
        ArrayNode a = j.putArray("data");
        page.forEach(d -> a.add(json(d)));
        boolean more = p.hasMore();
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

    /** {@code DELETE /v1/documents/{id}}. */
    ObjectNode delete(String id) {
        store.get(id);
        store.delete(id);
        ObjectNode j = Responses.JSON.createObjectNode();
        j.put("id", id);
        j.put("object", "document");
        j.put("deleted", true);
        return j;
    }

    /** A document's state: status, per-host progress, KV bytes, timing, time left to live. */
    ObjectNode json(Document d) {
        ObjectNode j = Responses.JSON.createObjectNode();
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
    void events(Document d, Response resp, Callback cb) {
        SseStream sse = new SseStream(resp, false);
        sse.open();
        long deadline = System.nanoTime() + cfg.timeout().toNanos() + TimeUnit.SECONDS.toNanos(600);
        try {
            int seen = -1;
            long lastBeat = System.nanoTime();
            while (true) {
                int v = d.version;
                Document.Status s = d.status;
                if (v != seen || d.removed) {
                    seen = v;
                    String event = d.removed ? "deleted" : s == Document.Status.READY ? "ready" : s == Document.Status.FAILED ? "failed" : "progress";
                    sse.event(event, Responses.JSON.writeValueAsString(json(d)));
                    lastBeat = System.nanoTime();
                    if (!event.equals("progress")) break;
                } else if (System.nanoTime() - lastBeat > TimeUnit.SECONDS.toNanos(10)) {
                    sse.comment("keep-alive");
                    lastBeat = System.nanoTime();
                }
                if (System.nanoTime() > deadline) break;
                Thread.sleep(50);
            }
            sse.close();
            cb.succeeded();
        } catch (IOException e) {
            cb.failed(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cb.failed(e);
        }
    }
}
