package dev.starattn.app.serve;

import static dev.starattn.app.serve.RequestFields.bool;
import static dev.starattn.app.serve.RequestFields.field;
import static dev.starattn.app.serve.RequestFields.integer;
import static dev.starattn.app.serve.RequestFields.number;
import static dev.starattn.app.serve.RequestFields.string;
import static dev.starattn.app.serve.RequestFields.wrongType;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.format.Printable;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * {@code POST /v1/chat/completions} and {@code /v1/completions}: reads the request's fields, waits
 * for its document and a slot, runs phase 1 (unless a document's context is reused) and phase 2,
 * and answers as one JSON body or as server-sent events.
 */
final class CompletionHandler {
    /** Most stop strings a request may give. */
    private static final int MAX_STOPS = 16;

    private final ServerConfig cfg;
    private final ServedModel served;
    private final MemoryBudget budget;
    private final Admission admission;
    private final DocumentStore documents;
    private final LiveContexts contexts;
    private final TokenBounds bounds;
    private final RequestBodies bodies;
    private final Metrics metrics;

    CompletionHandler(ServerConfig cfg, ServedModel served, MemoryBudget budget, Admission admission, DocumentStore documents,
                      LiveContexts contexts, TokenBounds bounds, RequestBodies bodies, Metrics metrics) {
        this.cfg = cfg;
        this.served = served;
        this.budget = budget;
        this.admission = admission;
        this.documents = documents;
        this.contexts = contexts;
        this.bounds = bounds;
        this.bodies = bodies;
        this.metrics = metrics;
    }

    /** Answers the request; returns the status for the log (499 when a streaming client left). */
    int complete(Request req, Response resp, Callback cb, boolean chat, RequestLog.Exchange ex) throws IOException {
        int maxContext = served.maxContext();
        long t0 = System.nanoTime();
        long deadline = t0 + cfg.timeout().toNanos();
        JsonNode body = bodies.jsonBody(req);
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
            doc = documents.get(docId);
            doc.touch(); // a question waiting for the document is a use: it must not expire under it
        }
        int fewestNew = explicitMax ? maxNew : 1;
        CompletionJob job = chat ? CompletionJob.chat(served, bounds, body, doc, fewestNew)
                : CompletionJob.completion(served, bounds, body, doc, fewestNew);
        body = null; // the tokens alone from here on
        int ctxLen = doc != null ? doc.contextTokens.length : job.context().length;
        ex.promptTokens = (long) ctxLen + job.query().length;
        long need = (long) ctxLen + job.query().length + maxNew;
        if (need > maxContext) {
            int room = maxContext - ctxLen - job.query().length;
            if (!explicitMax && room >= 1) {
                maxNew = room; // the default shrinks to what fits; an explicit one is an error
                need = maxContext;
            } else {
                throw ApiError.badRequest("context_length_exceeded", "this request needs " + need + " tokens ("
                        + ctxLen + " context + " + job.query().length + " query + " + maxNew
                        + " new) but the server takes at most " + maxContext + " (--max-context); shorten the input or lower max_tokens");
            }
        }

        Admission.Pending pending;
        long reserved = 0;
        if (doc == null) {
            reserved = contexts.kvEstimate(need);
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
                    ctx = contexts.encode(job.context(), (host, done, total, n) -> {
                        if (System.nanoTime() > deadline) throw ApiError.timeout("during phase 1 (context encoding)");
                        if (client.gone()) throw ApiError.clientGone();
                    });
                    phase1Nanos = System.nanoTime() - p1;
                }
                AnswerSink sink = stream ? new StreamedAnswer(resp, chat, includeUsage, served.id()) : new BufferedAnswer(client, served.id());
                String status = generate(job, ctx, doc, sampling, maxNew, stops, deadline, sink, queued, phase1Nanos, ownContext, ex);
                if (doc != null) doc.touch();
                if (!stream) {
                    BufferedAnswer b = (BufferedAnswer) sink;
                    if (status.equals("gone")) throw ApiError.clientGone();
                    if (status.equals("timeout")) throw ApiError.timeout("during generation (--timeout-s " + cfg.timeout().toSeconds() + ")");
                    if (client.readAhead()) resp.getHeaders().put(HttpHeader.CONNECTION, "close");
                    Responses.json(resp, cb, 200, b.response(chat));
                } else if (status.equals("gone")) {
                    cb.failed(new IOException("the client went away during the stream"));
                    return 499;
                } else {
                    ((StreamedAnswer) sink).close();
                    cb.succeeded();
                }
                return 200;
            }
        } finally {
            if (doc == null) {
                if (ctx != null) contexts.release(ctx);
                budget.release(reserved);
            }
        }
    }

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

    /** Phase 2: generates into the sink; returns "stop", "length", "timeout" or "gone" (the client left). */
    private String generate(CompletionJob job, EncodedContext ctx, Document doc, SamplingOptions sampling, int maxNew, List<String> stops,
                            long deadline, AnswerSink sink, long queuedNanos, long phase1Nanos, boolean ownContext,
                            RequestLog.Exchange ex) throws IOException {
        var engine = served.engine();
        var tok = served.model().tokenizer();
        TokenStreamDecoder dec = new TokenStreamDecoder(tok, false);
        StopMatcher matcher = new StopMatcher(stops);
        boolean[] timedOut = {false};
        IOException[] ioError = {null};
        GenerationResult r = engine.generate(ctx, job.query(), sampling, maxNew, id -> {
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
        metrics.promptTokens.add(job.query().length);
        for (HostStats h : r.hosts()) metrics.host(h.name).phase2Seconds.add(h.phase2Nanos / 1e9);
        String finish = timedOut[0] ? "timeout" : ("stop".equals(r.stopReason()) || matcher.stopped()) ? "stop" : "length";
        ObjectNode usage = Responses.JSON.createObjectNode();
        usage.put("prompt_tokens", ctx.length() + job.query().length);
        usage.put("completion_tokens", r.tokens().length);
        usage.put("total_tokens", ctx.length() + job.query().length + r.tokens().length);
        ObjectNode extra = Responses.JSON.createObjectNode();
        if (doc != null) extra.put("document_id", doc.id);
        extra.put("attention", ctx.options().strategy().name());
        var choice = contexts.choice(ctx);
        if (choice != null) extra.set("attention_choice", dev.starattn.app.cli.AttentionChoiceJson.of(choice));
        extra.put("context_tokens", ctx.length());
        extra.put("query_tokens", job.query().length);
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
}
