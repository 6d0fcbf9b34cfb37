package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.model.RandomLlamaModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code generate --json} prints one JSON object with the keys of the CLI contract (docs/DESIGN.md). */
class GenerateJsonTest {
    @TempDir Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"dense", "star", "star-pass", "ring"})
    void jsonHasContractKeys(String attention) throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("generate", "-m", m.toString(), "--context", "the quick brown fox jumps over the lazy dog again and again",
                "--query", "what jumps?", "--attention", attention, "--hosts", "3", "-n", "5", "--json");
        assertEquals(0, code, err.toString());
        assertEquals("", err.toString(), "--json prints nothing on stderr");
        JsonNode j = new ObjectMapper().readTree(out.toString());
        for (String k : new String[] {"text", "tokens", "prompt_tokens", "timing", "hosts", "attention", "block_size", "anchor_size"}) {
            assertTrue(j.has(k), k);
        }
        assertTrue(j.get("text").isTextual());
        assertEquals(5, j.get("tokens").size());
        assertTrue(j.get("prompt_tokens").asInt() > 5);
        for (String k : new String[] {"phase1_ms", "phase2_ms", "ttft_ms", "decode_tokens_per_s"}) {
            assertTrue(j.get("timing").get(k).isNumber(), "timing." + k);
        }
        assertEquals(attention.equals("dense") ? 1 : 3, j.get("hosts").size());
        for (JsonNode h : j.get("hosts")) {
            for (String k : new String[] {"blocks", "tokens", "kv_bytes", "phase1_ms"}) assertTrue(h.get(k).isNumber(), "hosts[]." + k);
        }
        assertEquals(attention, j.get("attention").asText());
        if (attention.startsWith("star")) assertTrue(j.get("block_size").asInt() > 0 && j.get("anchor_size").asInt() > 0);
    }

    /** auto: a context this short is not worth splitting; the choice and why are in the JSON. */
    @org.junit.jupiter.api.Test
    void autoSaysWhatItChoseAndWhy() throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("generate", "-m", m.toString(), "--context", "the quick brown fox jumps over the lazy dog again and again",
                "--query", "what jumps?", "--attention", "auto", "--hosts", "3", "-n", "2", "--json");
        assertEquals(0, code, err.toString());
        JsonNode j = new ObjectMapper().readTree(out.toString());
        assertEquals("dense", j.get("attention").asText());
        JsonNode c = j.get("attention_choice");
        assertEquals("dense", c.get("chosen").asText());
        assertTrue(c.get("why").asText().contains("would not pay"), c.get("why").asText());
        for (String k : new String[] {"dense", "star", "star-pass"}) assertTrue(c.get("predicted_seconds").get(k).isNumber(), k);
    }
}
