package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.testutil.GgufEdits;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI keys cached blocks by the model's content: a model with one other weight byte gets no hits. */
class ModelIdentityCliTest {
    @TempDir Path dir;

    JsonNode run(String... args) throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        assertEquals(0, code, err.toString());
        return new ObjectMapper().readTree(out.toString());
    }

    int hits(Path model, Path cache) throws Exception {
        JsonNode j = run("generate", "-m", model.toString(), "--context", "the quick brown fox jumps over the lazy dog again and again",
                "--query", "what jumps?", "--attention", "star", "--hosts", "2", "-n", "2", "--json", "--cache-dir", cache.toString());
        int h = 0;
        for (JsonNode host : j.get("hosts")) h += host.get("cache_hits").asInt();
        return h;
    }

    @Test
    void generateWithCacheDirGivesAnotherModelNoHitsAndKeepsItsHashesThere() throws Exception {
        Path a = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("a.gguf"));
        Path b = GgufEdits.withLastWeightByteChanged(a, dir.resolve("b.gguf"));
        Path cache = dir.resolve("cache");
        assertEquals(0, hits(a, cache));
        assertTrue(hits(a, cache) > 0, "the same model hits its blocks");
        assertEquals(0, hits(b, cache), "a model with the same header and one other weight byte hits nothing");
        String hashes = Files.readString(cache.resolve("model-hashes.json"));
        assertTrue(hashes.contains(a.toRealPath().toString()) && hashes.contains(b.toRealPath().toString()), hashes);
        assertNotEquals(run("info", "-m", a.toString(), "--json").get("fingerprint"), run("info", "-m", b.toString(), "--json").get("fingerprint"));
    }
}
