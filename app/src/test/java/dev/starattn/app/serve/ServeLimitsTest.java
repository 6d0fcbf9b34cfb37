package dev.starattn.app.serve;

import static dev.starattn.app.serve.ServeApiTest.assertOpenAiError;
import static dev.starattn.app.serve.ServeApiTest.chat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Limits and hostile input through real HTTP: document store bounds, huge bodies, gone clients, origins, types, the log. */
class ServeLimitsTest {
    @TempDir static Path dir;
    static ServeFixture f;

    @BeforeAll
    static void start() throws Exception {
        f = new ServeFixture(dir, ServerConfig.defaults(), 2);
    }

    @AfterAll
    static void stop() throws Exception {
        f.close();
    }

    /** Sends raw bytes on a new connection; the caller reads or closes it. */
    static Socket raw(ServeFixture g, String request) throws Exception {
        Socket s = new Socket("127.0.0.1", g.server.port());
        s.setSoTimeout(30_000);
        OutputStream out = s.getOutputStream();
        out.write(request.getBytes(StandardCharsets.UTF_8));
        out.flush();
        return s;
    }

    /** The status line and the rest of one answer on a raw connection (the server closes it, or it has Content-Length). */
    static String rawAnswer(Socket s) throws Exception {
        InputStream in = s.getInputStream();
        StringBuilder b = new StringBuilder();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
            b.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            int end = b.indexOf("\r\n\r\n");
            if (end >= 0) {
                var m = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(b.substring(0, end));
                if (m.find() && b.length() >= end + 4 + Integer.parseInt(m.group(1))) break;
            }
        }
        return b.toString();
    }

    static String post(String path, String host, String json) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\nConnection: close\r\n\r\n" + json;
    }

    static void await(BooleanSupplier cond, long millis, String what) throws InterruptedException {
        long end = System.nanoTime() + millis * 1_000_000L;
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out waiting until " + what);
            Thread.sleep(5);
        }
    }

    // ---------------------------------------------------------------- 11: the document store is bounded

    @Test
    void documentStoreIsBoundedAndListedInPages() throws Exception {
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withDocumentLimits(3, 2_500, 10), 2)) {
            assertOpenAiError(g.post("/v1/documents", Map.of("text", "a river of stones", "name", "x".repeat(11))), 400, "name_too_long");
            assertOpenAiError(g.post("/v1/documents", Map.of("text", "a river of stones", "name", 5)), 400, "invalid_type");
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 3; i++) ids.add(g.document(ServeFixture.text(500, i)));
            var fourth = g.post("/v1/documents", Map.of("text", ServeFixture.text(500, 9)));
            assertOpenAiError(fourth, 507, "too_many_documents");
            assertTrue(ServeFixture.json(fourth).get("error").get("message").asText().contains("--max-documents"), fourth.body());

            // pages in creation order, OpenAI's list shape
            JsonNode p1 = ServeFixture.json(g.get("/v1/documents?limit=2"));
            assertEquals(2, p1.get("data").size(), p1.toString());
            assertEquals(ids.get(0), p1.get("data").get(0).get("id").asText());
            assertEquals(ids.get(1), p1.get("last_id").asText());
            assertTrue(p1.get("has_more").asBoolean());
            JsonNode p2 = ServeFixture.json(g.get("/v1/documents?limit=2&after=" + p1.get("next").asText()));
            assertEquals(1, p2.get("data").size(), p2.toString());
            assertEquals(ids.get(2), p2.get("data").get(0).get("id").asText());
            assertFalse(p2.get("has_more").asBoolean());
            assertTrue(p2.get("next").isNull());
            // a cursor stays valid when its document is gone
            assertEquals(200, g.delete("/v1/documents/" + ids.get(1)).statusCode());
            JsonNode p3 = ServeFixture.json(g.get("/v1/documents?after=" + ids.get(1)));
            assertEquals(ids.get(2), p3.get("data").get(0).get("id").asText(), p3.toString());
            assertOpenAiError(g.get("/v1/documents?limit=0"), 400, "invalid_limit");
            assertOpenAiError(g.get("/v1/documents?limit=many"), 400, "invalid_limit");

            // bytes: 1000 held of 2500
            assertOpenAiError(g.post("/v1/documents", Map.of("text", ServeFixture.text(1_600, 7))), 507, "document_storage_full");
            assertOpenAiError(g.post("/v1/documents", Map.of("text", ServeFixture.text(2_501, 7))), 413, "document_too_large");
            assertEquals(2, g.server.documentCount());
            // room again after a delete: the freed count and bytes are given back
            assertEquals(200, g.delete("/v1/documents/" + ids.get(0)).statusCode());
            g.document(ServeFixture.text(1_900, 8));
        }
    }

    @Test
    void requestBodiesInFlightAreBounded() throws Exception {
        // one slot, no queue: one request with a body at a time
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withLimits(1, 0), 2)) {
            String host = "127.0.0.1:" + g.server.port();
            // a client that announces a large body and sends it slowly
            try (Socket slow = raw(g, "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host
                    + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"messages\": [")) {
                await(() -> g.server.bodiesInFlight() == 1, 10_000, "the slow body is being read");
                assertOpenAiError(g.post("/v1/chat/completions", chat("blue?", 2, false)), 429, "queue_full");
                assertOpenAiError(g.post("/v1/documents", Map.of("text", "a river")), 429, "queue_full");
            }
            await(() -> {
                try {
                    return g.post("/v1/chat/completions", chat("blue?", 2, false)).statusCode() == 200;
                } catch (Exception e) {
                    return false;
                }
            }, 10_000, "the slow client's place is given back when it leaves");
        }
    }

    // ---------------------------------------------------------------- 12: the context check comes before tokenizing

    @Test
    void hugeTextIsRefusedBeforeTokenizing() throws Exception {
        String huge = ServeFixture.text(6 << 20, 5); // 6 MB: tokenizing it would take seconds and gigabytes
        for (var req : List.of(
                Map.<String, Object>of("path", "/v1/completions", "body", Map.of("prompt", huge, "max_tokens", 4)),
                Map.<String, Object>of("path", "/v1/chat/completions", "body", Map.of("messages", List.of(Map.of("role", "user", "content", huge)))),
                Map.<String, Object>of("path", "/v1/documents", "body", Map.of("text", huge)))) {
            long t0 = System.nanoTime();
            var r = f.post((String) req.get("path"), req.get("body"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertOpenAiError(r, 400, "context_length_exceeded");
            String msg = ServeFixture.json(r).get("error").get("message").asText();
            assertTrue(msg.contains("bytes of text") && msg.contains("at least"), msg);
            assertTrue(ms < 3_000, req.get("path") + " took " + ms + " ms");
        }
        assertEquals(0, f.server.documentCount());
    }

    // ---------------------------------------------------------------- 13: a client that leaves cancels its request

    @TempDir static Path bigVocab;

    @Test
    void nonStreamingRequestOfAClientThatLeavesIsCancelled() throws Exception {
        // A vocabulary large enough that sampling rarely meets the end token: a long generation.
        new dev.starattn.model.RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(65536).contextLength(8192)
                .write(bigVocab.resolve("tiny.gguf"));
        try (ServeFixture g = new ServeFixture(bigVocab, ServerConfig.defaults().withLimits(1, 2), 2)) {
            String host = "127.0.0.1:" + g.server.port();
            Map<String, Object> req = new LinkedHashMap<>(chat("why?", 7_000, false));
            req.put("temperature", 1);
            req.put("seed", 7);
            String body = ServeFixture.JSON.writeValueAsString(req);

            // queued: the slot is held, the request waits; its client hangs up
            Admission.Ticket held = g.server.admission().enter(null, System.nanoTime() + 60_000_000_000L);
            try (Socket s = raw(g, post("/v1/chat/completions", host, body))) {
                await(() -> g.server.admission().waiting() == 1, 10_000, "the request is queued");
            }
            await(() -> g.server.admission().waiting() == 0, 2_000, "the queued request of a gone client leaves the queue");
            held.close();
            await(() -> g.log.stream().anyMatch(l -> l.startsWith("POST /v1/chat/completions 499 ")), 2_000, "the request is logged as 499");

            // generating: the generation stops and the slot is free again
            g.log.clear();
            try (Socket s = raw(g, post("/v1/chat/completions", host, body))) {
                // its context encoded (phase 1 over), it generates
                await(() -> g.server.admission().running() == 1 && g.server.liveContexts() == 1, 20_000, "the request generates");
                Thread.sleep(300);
            }
            long t0 = System.nanoTime();
            await(() -> g.server.admission().running() == 0, 2_000, "the running request of a gone client stops");
            System.out.printf("cancelled in %.0f ms%n", (System.nanoTime() - t0) / 1e6);
            await(() -> !g.log.isEmpty(), 2_000, "the request is logged");
            String line = g.log.peek();
            assertTrue(line.matches("POST /v1/chat/completions 499 tokens=\\d+\\+\\d+ ms=\\d+"), line);
            int generated = Integer.parseInt(line.replaceAll(".*\\+(\\d+) .*", "$1"));
            assertTrue(generated < 7_000, line);

            // left to finish, this request generates all 7000 tokens (about 25 s here): the slot is free long before
            assertEquals(200, g.post("/v1/chat/completions", chat("blue?", 2, false)).statusCode(), "the slot is free");
        }
    }

    // ---------------------------------------------------------------- 14: browsers of other sites are refused

    @Test
    void otherOriginsAndOtherHostsAreRefused() throws Exception {
        String own = "http://127.0.0.1:" + f.server.port();
        String json = ServeFixture.JSON.writeValueAsString(chat("blue?", 2, false));
        HttpRequest.Builder evil = f.req("/v1/chat/completions").header("Origin", "http://evil.example").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json));
        var r = f.http.send(evil.build(), HttpResponse.BodyHandlers.ofString());
        assertOpenAiError(r, 403, "origin_not_allowed");
        assertTrue(ServeFixture.json(r).get("error").get("message").asText().contains("--allow-origin"), r.body());
        assertOpenAiError(f.http.send(f.req("/v1/documents").header("Origin", "null").GET().build(), HttpResponse.BodyHandlers.ofString()),
                403, "origin_not_allowed");
        var same = f.http.send(f.req("/v1/chat/completions").header("Origin", own).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, same.statusCode(), "the server's own page: " + same.body());

        // JSON only as application/json: a form post or a text/plain fetch needs no preflight
        for (String type : List.of("text/plain", "application/x-www-form-urlencoded")) {
            assertOpenAiError(f.http.send(f.req("/v1/chat/completions").header("Content-Type", type)
                    .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString()), 415, "unsupported_media_type");
        }
        assertOpenAiError(f.http.send(f.req("/v1/completions").POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"a b c\"}")).build(),
                HttpResponse.BodyHandlers.ofString()), 415, "unsupported_media_type");
        assertOpenAiError(f.http.send(f.req("/v1/documents").header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("text=a+river")).build(), HttpResponse.BodyHandlers.ofString()), 415, "unsupported_media_type");
        var plain = f.http.send(f.req("/v1/documents").header("Content-Type", "text/plain; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofString("a river of blue stones")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(202, plain.statusCode(), plain.body());
        f.delete("/v1/documents/" + ServeFixture.json(plain).get("id").asText());

        // DNS rebinding: a loopback server answers only loopback names with its own port
        int port = f.server.port();
        for (String host : List.of("evil.example:" + port, "evil.example", "localhost:" + (port == 1 ? 2 : port - 1))) {
            try (Socket s = raw(f, "GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")) {
                String a = rawAnswer(s);
                assertTrue(a.startsWith("HTTP/1.1 421"), host + ": " + a);
                assertTrue(a.contains("misdirected_request"), a);
            }
        }
        for (String host : List.of("localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LOCALHOST:" + port)) {
            try (Socket s = raw(f, "GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")) {
                String a = rawAnswer(s);
                assertTrue(a.startsWith("HTTP/1.1 200"), host + ": " + a);
            }
        }
    }

    @Test
    void allowedOriginsGetCorsAndAKeyLetsOthersThrough() throws Exception {
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withAllowOrigins(List.of("http://localhost:3000/")), 2)) {
            var pre = g.http.send(g.req("/v1/chat/completions").header("Origin", "http://localhost:3000")
                    .header("Access-Control-Request-Method", "POST").method("OPTIONS", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(204, pre.statusCode(), pre.body());
            assertEquals("http://localhost:3000", pre.headers().firstValue("access-control-allow-origin").orElse(""));
            assertTrue(pre.headers().firstValue("access-control-allow-headers").orElse("").contains("Content-Type"));
            var r = g.http.send(g.req("/v1/models").header("Origin", "http://localhost:3000").GET().build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertEquals("http://localhost:3000", r.headers().firstValue("access-control-allow-origin").orElse(""));
            assertOpenAiError(g.http.send(g.req("/v1/models").header("Origin", "http://localhost:3001").GET().build(),
                    HttpResponse.BodyHandlers.ofString()), 403, "origin_not_allowed");
        }
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults().withApiKey("k"), 2)) {
            var r = g.http.send(g.req("/v1/models").header("Origin", "http://evil.example").GET().build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), "with an API key the key decides: " + r.body());
            assertFalse(r.headers().firstValue("access-control-allow-origin").isPresent());
        }
    }

    // ---------------------------------------------------------------- 15: wrong JSON types

    @Test
    void wrongJsonTypesNameTheirField() throws Exception {
        Map<String, Object> cases = new LinkedHashMap<>();
        cases.put("temperature", "hot");
        cases.put("top_p", List.of(1));
        cases.put("stream", "yes");
        cases.put("max_tokens", 3.7);
        cases.put("stop", 5);
        cases.put("seed", "x");
        cases.put("n", "one");
        cases.put("document_id", 7);
        cases.put("stream_options", "usage");
        for (var c : cases.entrySet()) {
            Map<String, Object> body = new LinkedHashMap<>(chat("blue?", 2, false));
            body.put(c.getKey(), c.getValue());
            var r = f.post("/v1/chat/completions", body);
            assertOpenAiError(r, 400, null);
            JsonNode e = ServeFixture.json(r).get("error");
            assertEquals(c.getKey(), e.get("param").asText(), r.body());
            assertTrue(e.get("message").asText().startsWith(c.getKey() + " must be"), r.body());
        }
        var stops = f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}], \"stop\": [\"a\", 5]}");
        assertOpenAiError(stops, 400, "invalid_type");
        var content = f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": 12}]}");
        assertOpenAiError(content, 400, "invalid_type");
        assertEquals("messages[0].content", ServeFixture.json(content).get("error").get("param").asText());

        var big = f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}], \"max_tokens\": 1e12}");
        assertOpenAiError(big, 400, "invalid_max_tokens");
        String msg = ServeFixture.json(big).get("error").get("message").asText();
        assertTrue(msg.contains("too large") && msg.contains("2048"), msg);
        assertOpenAiError(f.post("/v1/completions", "{\"prompt\": \"a b c d\", \"max_tokens\": 99999999999999999999999}"), 400, "invalid_max_tokens");
        assertTrue(f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}], \"max_tokens\": 0}").body()
                .contains("at least 1"));
        // a whole number written as 4.0 is a whole number
        assertEquals(200, f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}], \"max_tokens\": 4.0}").statusCode());
    }

    // ---------------------------------------------------------------- 16: one log line per request

    @Test
    void everyRequestIsLoggedOnOneEscapedLine() throws Exception {
        try (ServeFixture g = new ServeFixture(dir, ServerConfig.defaults(), 2)) {
            assertEquals(200, g.post("/v1/chat/completions", chat("blue?", 3, false)).statusCode());
            assertEquals(404, g.get("/v1/nothing%E2%80%AEereh").statusCode());
            assertEquals(200, g.get("/health").statusCode());
            // a line is written once the answer is sent: the client may read the answer first
            await(() -> g.log.size() == 3, 2_000, "three log lines");
            List<String> lines = List.copyOf(g.log).stream().sorted().toList();
            assertTrue(lines.get(0).matches("GET /health 200 tokens=- ms=\\d+"), lines.get(0));
            assertTrue(lines.get(1).startsWith("GET /v1/nothing\\u202eereh 404 tokens=- ms="), lines.get(1));
            assertTrue(lines.get(2).matches("POST /v1/chat/completions 200 tokens=\\d+\\+\\d+ ms=\\d+"), lines.get(2));
            for (String l : lines) assertFalse(l.chars().anyMatch(c -> c < 0x20 || c == 0x202e), l);
        }
    }
}
