package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.model.RandomLlamaModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --cache-dir}: a second run takes its blocks from disk; bad files are reported and re-encoded. */
class CacheCliTest {
    @TempDir Path dir;

    record Out(int code, JsonNode json, String err) {}

    Out generate(Path model, String... extra) throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        List<String> args = new java.util.ArrayList<>(List.of("generate", "-m", model.toString(), "--context",
                "the quick brown fox jumps over the lazy dog again and again and once more for the cache",
                "--query", "what jumps?", "--attention", "star", "--hosts", "3", "-n", "4", "--json"));
        args.addAll(List.of(extra));
        int code = cl.execute(args.toArray(String[]::new));
        return new Out(code, code == 0 ? new ObjectMapper().readTree(out.toString()) : null, err.toString());
    }

    static int sum(JsonNode j, String key) {
        int s = 0;
        for (JsonNode h : j.get("hosts")) s += h.get(key).asInt();
        return s;
    }

    @Test
    void secondRunHitsOnDiskAndBadFilesAreReencoded() throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        Path cache = dir.resolve("cache");
        Out plain = generate(m);
        assertEquals(0, sum(plain.json(), "cache_hits") + sum(plain.json(), "cache_misses"), "no --cache-dir, no cache");
        Out cold = generate(m, "--cache-dir", cache.toString());
        assertEquals(0, cold.code(), cold.err());
        assertEquals(0, sum(cold.json(), "cache_hits"));
        int blocks = sum(cold.json(), "cache_misses");
        assertTrue(blocks >= 3);
        Out warm = generate(m, "--cache-dir", cache.toString());
        assertEquals(blocks, sum(warm.json(), "cache_hits"));
        assertEquals(0, sum(warm.json(), "cache_misses"));
        assertEquals(blocks, warm.json().get("block_cache").get("disk_hits").asInt());
        assertEquals(plain.json().get("tokens"), warm.json().get("tokens"));
        assertEquals(cold.json().get("tokens"), warm.json().get("tokens"));
        assertEquals("", warm.err());
        // Flip a bit in one file: a warning on stderr, that block encoded again, same answer.
        Path f;
        try (Stream<Path> s = Files.list(cache)) {
            f = s.filter(p -> p.toString().endsWith(".stkv")).findFirst().orElseThrow();
        }
        byte[] b = Files.readAllBytes(f);
        b[b.length - 3] ^= 0x40;
        Files.write(f, b);
        Out bad = generate(m, "--cache-dir", cache.toString());
        assertEquals(0, bad.code(), bad.err());
        assertEquals(1, sum(bad.json(), "cache_misses"));
        assertTrue(bad.err().contains("checksum") && bad.err().contains("encoded again"), bad.err());
        assertEquals(plain.json().get("tokens"), bad.json().get("tokens"));
        // Another KV type is another block.
        Out q8 = generate(m, "--cache-dir", cache.toString(), "--kv-type-k", "q8_0", "--kv-type-v", "f16");
        assertEquals(0, q8.code(), q8.err());
        assertEquals("q8_0", q8.json().get("kv_type_k").asText());
        assertEquals("f16", q8.json().get("kv_type_v").asText());
        assertEquals(blocks, sum(q8.json(), "cache_misses"));
        long f16Bytes = generate(m, "--kv-type", "f16").json().get("hosts").get(0).get("kv_bytes").asLong();
        long q8Bytes = generate(m, "--kv-type", "q8_0").json().get("hosts").get(0).get("kv_bytes").asLong();
        assertNotEquals(0, q8Bytes);
        assertTrue(q8Bytes < 0.6 * f16Bytes, q8Bytes + " vs " + f16Bytes);
    }

    @Test
    void badFlagsGiveOneSentence() throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        Out k = generate(m, "--kv-type-k", "q4");
        assertNotEquals(0, k.code());
        assertTrue(k.err().contains("--kv-type-k takes f32, f16 or q8_0"), k.err());
        Out s = generate(m, "--cache-dir", dir.toString(), "--cache-mem", "lots");
        assertNotEquals(0, s.code());
        assertTrue(s.err().contains("--cache-mem takes a size"), s.err());
        Out file = generate(m, "--cache-dir", m.toString());
        assertNotEquals(0, file.code());
        assertTrue(file.err().contains("is a file, not a directory"), file.err());
    }
}
