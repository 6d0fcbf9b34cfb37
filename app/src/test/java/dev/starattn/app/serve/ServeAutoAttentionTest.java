package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.strategy.AutoAttention;
import dev.starattn.engine.strategy.Strategies;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --attention auto}: each context runs on what the picker chose for its length, and the response says
 * what and why. The pickers have a fixed throughput, so the choice does not depend on this machine.
 */
class ServeAutoAttentionTest {
    @TempDir Path dir;

    private static Map<String, Object> completion(String prompt) {
        return Map.of("prompt", prompt, "max_tokens", 3);
    }

    @Test
    void aShortContextOnInProcessHostsRunsDenseAndSaysWhy() throws Exception {
        try (ServeFixture f = new ServeFixture(dir, ServerConfig.defaults(), 3, null,
                m -> new AutoAttention.Picker(m.config(), EngineOptions.of(Strategies.STAR, 3), AutoAttention.Placement.IN_PROCESS, 50e9))) {
            assertEquals("auto", ServeFixture.json(f.get("/v1/models")).get("data").get(0).get("attention").asText());
            var r = f.post("/v1/completions", completion(ServeFixture.text(120, 3)));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode s = ServeFixture.json(r).get("starattn");
            assertEquals("dense", s.get("attention").asText(), s.toString());
            assertEquals(1, s.get("hosts").size());
            JsonNode c = s.get("attention_choice");
            assertEquals("dense", c.get("chosen").asText());
            assertTrue(c.get("why").asText().contains("would not pay"), c.toString());
        }
    }

    @Test
    void hostsThatMustBeUsedRunASplitAndDocumentsToo() throws Exception {
        // Hosts given (as remote ones are): dense is not offered, so the context is split over the three hosts.
        var given = new AutoAttention.Placement(true, 0, false, true);
        try (ServeFixture f = new ServeFixture(dir, ServerConfig.defaults(), 3, null,
                m -> new AutoAttention.Picker(m.config(), EngineOptions.of(Strategies.STAR, 3), given, 50e9))) {
            var r = f.post("/v1/completions", completion(ServeFixture.text(1500, 4)));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode s = ServeFixture.json(r).get("starattn");
            String chosen = s.get("attention_choice").get("chosen").asText();
            assertTrue(List.of("star", "star-pass").contains(chosen), s.toString());
            assertEquals(chosen, s.get("attention").asText());
            assertEquals(3, s.get("hosts").size());
            // A document's context is chosen for once, when it is encoded, and its answers say so.
            String id = f.document(ServeFixture.text(1500, 5));
            var a = f.post("/v1/chat/completions", Map.of("document_id", id, "max_tokens", 3,
                    "messages", List.of(Map.of("role", "user", "content", "which stone?"))));
            assertEquals(200, a.statusCode(), a.body());
            JsonNode d = ServeFixture.json(a).get("starattn");
            assertNotEquals("dense", d.get("attention").asText(), d.toString());
            assertEquals(d.get("attention").asText(), d.get("attention_choice").get("chosen").asText());
        }
    }
}
