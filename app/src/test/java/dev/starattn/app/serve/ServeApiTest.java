package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API through a real client (java.net.http): shapes, streaming, documents, errors, limits. */
class ServeApiTest {
    @TempDir static Path dir;
    static ServeFixture f;

    @BeforeAll
    static void start() throws Exception {
        f = new ServeFixture(dir, ServerConfig.defaults().withMaxBodyBytes(64 << 10), 3);
    }

    @AfterAll
    static void stop() throws Exception {
        f.close();
    }

    static void assertOpenAiError(HttpResponse<String> r, int status, String code) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
        JsonNode e = ServeFixture.json(r).get("error");
        assertNotNull(e, r.body());
        assertTrue(e.get("message").isTextual() && !e.get("message").asText().isBlank(), r.body());
        assertTrue(e.get("type").isTextual(), r.body());
        assertTrue(e.has("code"), r.body());
        if (code != null) assertEquals(code, e.get("code").asText(), r.body());
    }

    static Map<String, Object> chat(String q, int maxTokens, boolean stream) {
        return Map.of("model", "tiny", "max_tokens", maxTokens, "stream", stream,
                "messages", List.of(Map.of("role", "system", "content", ServeFixture.text(300, 1)), Map.of("role", "user", "content", q)));
    }

    /** Parses an event stream into its data payloads, checking the framing. */
    static List<String> sseData(HttpResponse<String> r) {
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"), r.headers().toString());
        List<String> data = new ArrayList<>();
        for (String event : r.body().split("\n\n")) {
            if (event.isBlank()) continue;
            assertTrue(event.startsWith("data: "), "every event is one data line: " + event);
            data.add(event.substring(6));
        }
        assertEquals("[DONE]", data.getLast());
        return data;
    }

    @Test
    void healthModelsAndPage() throws Exception {
        var h = f.get("/health");
        assertEquals(200, h.statusCode());
        assertEquals("ok", ServeFixture.json(h).get("status").asText());
        JsonNode models = ServeFixture.json(f.get("/v1/models"));
        assertEquals("list", models.get("object").asText());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        assertEquals("model", models.get("data").get(0).get("object").asText());
        var page = f.get("/");
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("<script src=\"app.js\">"));
        assertEquals(200, f.get("/app.js").statusCode());
    }

    @Test
    void chatCompletion() throws Exception {
        var r = f.post("/v1/chat/completions", chat("what is blue?", 6, false));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = ServeFixture.json(r);
        assertEquals("chat.completion", j.get("object").asText());
        assertTrue(j.get("id").asText().startsWith("chatcmpl-"));
        JsonNode c = j.get("choices").get(0);
        assertEquals("assistant", c.get("message").get("role").asText());
        assertTrue(c.get("message").get("content").isTextual());
        assertTrue(List.of("stop", "length").contains(c.get("finish_reason").asText()));
        JsonNode u = j.get("usage");
        assertTrue(u.get("prompt_tokens").asInt() > 300);
        assertEquals(u.get("prompt_tokens").asInt() + u.get("completion_tokens").asInt(), u.get("total_tokens").asInt());
        JsonNode t = j.get("starattn").get("timing");
        assertTrue(t.get("phase1_ms").asDouble() > 0 && t.get("ttft_ms").asDouble() > 0);
        assertEquals(3, j.get("starattn").get("hosts").size());
    }

    @Test
    void chatStreamsInOpenAiChunkFormat() throws Exception {
        var body = new java.util.HashMap<>(chat("what is blue?", 8, true));
        body.put("stream_options", Map.of("include_usage", true));
        List<String> data = sseData(f.post("/v1/chat/completions", body));
        String id = null;
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        for (int i = 0; i < data.size() - 1; i++) {
            JsonNode c = ServeFixture.JSON.readTree(data.get(i));
            assertEquals("chat.completion.chunk", c.get("object").asText());
            if (id == null) id = c.get("id").asText();
            assertEquals(id, c.get("id").asText(), "one id for all chunks");
            if (c.get("choices").isEmpty()) {
                usage = c.get("usage");
                continue;
            }
            JsonNode ch = c.get("choices").get(0);
            if (i == 0) assertEquals("assistant", ch.get("delta").get("role").asText());
            if (ch.get("delta").has("content")) text.append(ch.get("delta").get("content").asText());
            if (!ch.get("finish_reason").isNull()) finish = ch.get("finish_reason").asText();
        }
        assertNotNull(finish);
        assertNotNull(usage, "include_usage gives a last chunk with usage and no choices");
        // the same request without streaming gives the same text (greedy)
        var whole = ServeFixture.json(f.post("/v1/chat/completions", chat("what is blue?", 8, false)));
        assertEquals(whole.get("choices").get(0).get("message").get("content").asText(), text.toString());
        assertEquals(whole.get("usage").get("completion_tokens").asInt(), usage.get("completion_tokens").asInt());
    }

    @Test
    void completionsStreamAndNot() throws Exception {
        var r = f.post("/v1/completions", Map.of("model", "tiny", "prompt", ServeFixture.text(200, 2), "max_tokens", 5));
        assertEquals(200, r.statusCode(), r.body());
        JsonNode j = ServeFixture.json(r);
        assertEquals("text_completion", j.get("object").asText());
        assertTrue(j.get("choices").get(0).get("text").isTextual());
        List<String> data = sseData(f.post("/v1/completions", Map.of("prompt", ServeFixture.text(200, 2), "max_tokens", 5, "stream", true)));
        StringBuilder text = new StringBuilder();
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode c = ServeFixture.JSON.readTree(d);
            assertEquals("text_completion", c.get("object").asText());
            text.append(c.get("choices").get(0).get("text").asText());
        }
        assertEquals(j.get("choices").get(0).get("text").asText(), text.toString());
    }

    @Test
    void documentsEncodeOnceAndAnswerLikeAFreshContext() throws Exception {
        String doc = ServeFixture.text(900, 3);
        var created = f.post("/v1/documents", Map.of("text", doc, "name", "essay"));
        assertEquals(202, created.statusCode(), created.body());
        JsonNode d = ServeFixture.json(created);
        String id = d.get("id").asText();
        assertEquals("document", d.get("object").asText());
        assertEquals(3, d.get("hosts").size());
        // the event stream follows phase 1 to the end
        var events = f.http.send(f.req("/v1/documents/" + id + "/events").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, events.statusCode());
        assertTrue(events.body().contains("event: ready"), events.body());
        JsonNode status = ServeFixture.json(f.get("/v1/documents/" + id));
        assertEquals("ready", status.get("status").asText());
        assertTrue(status.get("kv_bytes").asLong() > 0);
        for (JsonNode h : status.get("hosts")) assertEquals(h.get("blocks_total").asInt(), h.get("blocks_done").asInt());
        assertTrue(status.get("timing").get("phase1_ms").asDouble() > 0);

        var ask = Map.of("model", "tiny", "document_id", id, "max_tokens", 6, "messages", List.of(Map.of("role", "user", "content", "which stone?")));
        JsonNode a1 = ServeFixture.json(f.post("/v1/chat/completions", ask));
        JsonNode a2 = ServeFixture.json(f.post("/v1/chat/completions", ask));
        assertTrue(a1.get("starattn").get("timing").get("phase1_reused").asBoolean(), a1.toString());
        String t1 = a1.get("choices").get(0).get("message").get("content").asText();
        assertEquals(t1, a2.get("choices").get(0).get("message").get("content").asText(), "the context is reusable");
        // the same text as a chat without the document encodes the same context: the same answer
        JsonNode fresh = ServeFixture.json(f.post("/v1/chat/completions", Map.of("max_tokens", 6, "messages",
                List.of(Map.of("role", "user", "content", doc), Map.of("role", "user", "content", "which stone?")))));
        assertEquals(t1, fresh.get("choices").get(0).get("message").get("content").asText());
        assertEquals(a1.get("usage").get("prompt_tokens").asInt(), fresh.get("usage").get("prompt_tokens").asInt());
        // one message holding the document and, after a blank line, the question: split the same way
        JsonNode single = ServeFixture.json(f.post("/v1/chat/completions", Map.of("max_tokens", 6, "messages",
                List.of(Map.of("role", "user", "content", doc + "\n\nwhich stone?")))));
        assertEquals(t1, single.get("choices").get(0).get("message").get("content").asText());
        assertEquals(a1.get("starattn").get("context_tokens").asInt(), single.get("starattn").get("context_tokens").asInt());

        assertTrue(ServeFixture.json(f.get("/v1/documents")).get("data").toString().contains(id));
        var del = f.delete("/v1/documents/" + id);
        assertEquals(200, del.statusCode());
        assertTrue(ServeFixture.json(del).get("deleted").asBoolean());
        assertOpenAiError(f.get("/v1/documents/" + id), 404, "document_not_found");
        assertOpenAiError(f.post("/v1/chat/completions", ask), 404, "document_not_found");
    }

    @Test
    void errorsHaveOpenAiShape() throws Exception {
        assertOpenAiError(f.post("/v1/chat/completions", "{not json"), 400, "invalid_json");
        assertOpenAiError(f.post("/v1/chat/completions", Map.of("messages", List.of())), 400, "missing_messages");
        assertOpenAiError(f.post("/v1/chat/completions", Map.of("messages", List.of(Map.of("role", "assistant", "content", "hi")))), 400, "last_message_not_user");
        assertOpenAiError(f.post("/v1/chat/completions", Map.of("temperature", -1, "messages", List.of(Map.of("role", "user", "content", "hi there")))), 400, "invalid_sampling");
        assertOpenAiError(f.post("/v1/completions", Map.of("prompt", "")), 400, "empty_prompt");
        assertOpenAiError(f.get("/v1/nothing"), 404, "not_found");
        assertOpenAiError(f.get("/v1/chat/completions"), 405, "method_not_allowed");
        assertOpenAiError(f.get("/v1/documents/doc-missing"), 404, "document_not_found");
        assertOpenAiError(f.post("/v1/documents", Map.of("text", "  ")), 400, "empty_document");
        // longer than the model's 2048 positions (and within the body limit)
        assertOpenAiError(f.post("/v1/chat/completions", Map.of("max_tokens", 10, "messages",
                List.of(Map.of("role", "user", "content", ServeFixture.text(3000, 4))))), 400, "context_length_exceeded");
        // the body limit (64 KiB here), declared and streamed
        assertOpenAiError(f.post("/v1/documents", Map.of("text", "x".repeat(70_000))), 413, "request_too_large");
    }

    @Test
    void fullQueueGets429AndWaitingTimesOut() throws Exception {
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withLimits(1, 1).withTimeout(Duration.ofSeconds(3)), 2)) {
            Admission.Ticket held = g.server.admission().enter(null, System.nanoTime() + 1_000_000_000L); // the only slot
            HttpRequest q = g.req("/v1/chat/completions").header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(ServeFixture.JSON.writeValueAsString(chat("why?", 3, false)))).build();
            CompletableFuture<HttpResponse<String>> queued = g.http.sendAsync(q, HttpResponse.BodyHandlers.ofString());
            long end = System.nanoTime() + 5_000_000_000L;
            while (g.server.admission().waiting() < 1 && System.nanoTime() < end) Thread.sleep(5);
            assertEquals(1, g.server.admission().waiting(), "the first request waits in the queue");
            var refused = g.http.send(q, HttpResponse.BodyHandlers.ofString());
            assertOpenAiError(refused, 429, "queue_full");
            assertEquals("rate_limit_error", ServeFixture.json(refused).get("error").get("type").asText());
            assertTrue(refused.headers().firstValue("retry-after").isPresent());
            held.close();
            assertEquals(200, queued.get().statusCode(), queued.get().body());

            // a request that waits past its deadline gets 504
            held = g.server.admission().enter(null, System.nanoTime() + 1_000_000_000L);
            var late = g.http.send(q, HttpResponse.BodyHandlers.ofString());
            held.close();
            assertOpenAiError(late, 504, "request_timeout");
            String metrics = g.get("/metrics").body();
            assertTrue(metrics.contains("starattn_requests_total{endpoint=\"/v1/chat/completions\",status=\"429\"} 1"), metrics);
        }
    }

    @Test
    void apiKeyIsRequiredWhenSet() throws Exception {
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withApiKey("s3cret"), 2)) {
            g.apiKey = null;
            assertOpenAiError(g.get("/v1/models"), 401, "invalid_api_key");
            assertOpenAiError(g.post("/v1/chat/completions", chat("hi?", 2, false)), 401, "invalid_api_key");
            assertOpenAiError(g.get("/metrics"), 401, "invalid_api_key");
            g.apiKey = "wrong";
            assertOpenAiError(g.get("/v1/models"), 401, "invalid_api_key");
            assertEquals(200, g.get("/health").statusCode(), "health needs no key");
            assertEquals(200, g.get("/").statusCode(), "the page needs no key (it asks for one)");
            g.apiKey = "s3cret";
            assertEquals(200, g.get("/v1/models").statusCode());
            assertEquals(200, g.post("/v1/chat/completions", chat("hi?", 2, false)).statusCode());
        }
    }

    @Test
    void metricsInPrometheusFormat() throws Exception {
        f.post("/v1/chat/completions", chat("metrics?", 3, false));
        var r = f.get("/metrics");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain; version=0.0.4"));
        String m = r.body();
        for (String name : new String[] {"starattn_requests_total", "starattn_queue_depth", "starattn_phase1_seconds_bucket",
                "starattn_phase2_seconds_count", "starattn_time_to_first_token_seconds_sum", "starattn_decode_tokens_per_second_bucket",
                "starattn_host_kv_bytes{host=\"host-0\"}", "starattn_host_encoding{host=\"host-2\"}", "starattn_memory_used_bytes"}) {
            assertTrue(m.contains(name), name + " in\n" + m);
        }
        for (String line : m.split("\n")) {
            assertTrue(line.startsWith("# HELP ") || line.startsWith("# TYPE ") || line.matches("[a-z_][a-z0-9_]*(\\{.*\\})? (-?[0-9.eE+-]+|NaN)"), line);
        }
        assertFalse(m.contains("\n\n"));
    }
}
