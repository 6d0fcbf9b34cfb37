package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** serve --cache-dir: a document uploaded again is not encoded again, and /metrics says so. */
class ServeBlockCacheTest {
    @TempDir
    Path dir;

    static String ready(ServeFixture f, String doc) throws Exception {
        var created = f.post("/v1/documents", Map.of("text", doc));
        assertEquals(202, created.statusCode(), created.body());
        String id = ServeFixture.json(created).get("id").asText();
        var events = f.http.send(f.req("/v1/documents/" + id + "/events").GET().build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(events.body().contains("event: ready"), events.body());
        return id;
    }

    static long metric(ServeFixture f, String name) throws Exception {
        for (String line : f.get("/metrics").body().split("\n")) {
            if (line.startsWith(name + " ")) return (long) Double.parseDouble(line.substring(name.length() + 1));
        }
        throw new AssertionError(name + " is missing from /metrics");
    }

    @Test
    void aDocumentUploadedTwiceIsEncodedOnce() throws Exception {
        try (ServeFixture f = new ServeFixture(dir, ServerConfig.defaults(), 3, dir.resolve("cache"))) {
            String doc = ServeFixture.text(900, 5);
            String first = ready(f, doc);
            long misses = metric(f, "starattn_block_cache_misses");
            assertTrue(misses > 0, "the first upload encodes its blocks");
            assertEquals(0, metric(f, "starattn_block_cache_hits"));
            String second = ready(f, doc);
            assertEquals(misses, metric(f, "starattn_block_cache_misses"), "nothing encoded again");
            assertEquals(misses, metric(f, "starattn_block_cache_hits"), "every star block came from the cache");
            var ask = Map.of("model", "tiny", "max_tokens", 6, "messages", List.of(Map.of("role", "user", "content", "which stone?")));
            JsonNode a = ServeFixture.json(f.post("/v1/chat/completions", withDoc(ask, first)));
            JsonNode b = ServeFixture.json(f.post("/v1/chat/completions", withDoc(ask, second)));
            assertEquals(a.get("choices").get(0).get("message").get("content").asText(),
                    b.get("choices").get(0).get("message").get("content").asText(), "the cached document answers alike");
        }
    }

    static Map<String, Object> withDoc(Map<String, Object> m, String id) {
        var r = new java.util.HashMap<>(m);
        r.put("document_id", id);
        return r;
    }
}
