package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.tensor.GgmlType;
import dev.starattn.testutil.GgufEdits;
import dev.starattn.testutil.HfDirWriter;
import dev.starattn.testutil.InMemoryModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model identity covers every byte the loader reads, and is cached per file by (path, size, times, inode). */
class ModelHashTest {
    @TempDir Path dir;
    final List<String> messages = new ArrayList<>();

    static Path gguf(Path p) {
        return new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300)
                .weightType(GgmlType.Q8_0).seed(7).write(p);
    }

    String identity(ModelHash h, Path cacheDir) {
        return h.identity(cacheDir, messages::add);
    }

    @Test
    void oneWeightByteChangesTheIdentityAndARenamedCopyKeepsIt() throws IOException {
        Path a = gguf(dir.resolve("a.gguf"));
        Path b = GgufEdits.withLastWeightByteChanged(a, dir.resolve("b.gguf"));
        Path copy = Files.copy(a, dir.resolve("renamed.gguf"));
        Path cache = dir.resolve("cache");
        String ia = identity(ModelHash.ofGguf(a), cache);
        assertTrue(ia.matches("[0-9a-f]{32}"), ia);
        assertNotEquals(ia, identity(ModelHash.ofGguf(b), cache), "one byte of the last tensor differs");
        assertEquals(ia, identity(ModelHash.ofGguf(copy), cache), "same bytes under another name");
        try (LoadedModel la = ModelLoader.load(a); LoadedModel lb = ModelLoader.load(b)) {
            assertEquals(la.config().toString(), lb.config().toString(), "same header");
            assertNotEquals(la.fingerprint(cache), lb.fingerprint(cache));
        }
    }

    @Test
    void chunkBoundariesAndEmptyFilesAreCovered() throws IOException {
        Path f = dir.resolve("big.bin");
        byte[] data = new byte[ModelHash.CHUNK * 2 + 5];
        new Random(1).nextBytes(data);
        Files.write(f, data);
        String whole = ModelHash.hashFile(f, data.length, messages::add);
        for (int pos : new int[] {0, ModelHash.CHUNK - 1, ModelHash.CHUNK, data.length - 1}) {
            data[pos] ^= 0x40;
            Files.write(f, data);
            assertNotEquals(whole, ModelHash.hashFile(f, data.length, messages::add), "byte " + pos);
            data[pos] ^= 0x40;
        }
        Files.write(f, data);
        assertEquals(whole, ModelHash.hashFile(f, data.length, messages::add), "deterministic");
        Path empty = Files.createFile(dir.resolve("empty"));
        assertTrue(ModelHash.hashFile(empty, 0, messages::add).matches("[0-9a-f]{16}"));
    }

    @Test
    void aSecondRunReadsTheCacheAndAChangedFileIsHashedAgain() throws IOException {
        Path a = gguf(dir.resolve("a.gguf"));
        Path cache = dir.resolve("cache");
        String first = identity(ModelHash.ofGguf(a), cache);
        Path file = cache.resolve(ModelHash.CACHE_FILE);
        assertTrue(Files.isRegularFile(file));
        // Plant a wrong hash: a run that reads the cache instead of the file returns another identity.
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = (ObjectNode) om.readTree(file.toFile());
        ((ObjectNode) root.get("files").get(0)).put("hash", "0123456789abcdef");
        Files.writeString(file, root.toString());
        String fromCache = identity(ModelHash.ofGguf(a), cache);
        assertNotEquals(first, fromCache, "the second run used the cached per-file hash without reading the model");

        // Same size, same mtime, other inode (a file replaced by rename): hashed again.
        Path tmp = Files.copy(a, dir.resolve("a.tmp"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.setLastModifiedTime(tmp, Files.getLastModifiedTime(a));
        Files.move(tmp, a, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(first, identity(ModelHash.ofGguf(a), cache), "a replaced file is hashed again");

        // Plant the wrong hash again, then change the mtime: stale, hashed again.
        root = (ObjectNode) om.readTree(file.toFile());
        ((ObjectNode) root.get("files").get(0)).put("hash", "0123456789abcdef");
        Files.writeString(file, root.toString());
        Files.setLastModifiedTime(a, FileTime.fromMillis(Files.getLastModifiedTime(a).toMillis() - 60_000));
        assertEquals(first, identity(ModelHash.ofGguf(a), cache), "a file with another mtime is hashed again");
    }

    @Test
    void aCorruptCacheFileIsIgnoredAndRewritten() throws IOException {
        Path a = gguf(dir.resolve("a.gguf"));
        Path cache = Files.createDirectories(dir.resolve("cache"));
        String want = identity(ModelHash.ofGguf(a), dir.resolve("clean"));
        for (String junk : new String[] {"{not json", "[]", "{\"format\":\"starattn-model-hashes\",\"version\":1,\"files\":[{\"path\":1}]}", ""}) {
            Files.writeString(cache.resolve(ModelHash.CACHE_FILE), junk);
            messages.clear();
            assertEquals(want, identity(ModelHash.ofGguf(a), cache), junk);
            String text = Files.readString(cache.resolve(ModelHash.CACHE_FILE));
            assertTrue(text.contains("\"hash\""), "rewritten: " + text);
            new ObjectMapper().readTree(text);
        }
        try (Stream<Path> s = Files.list(cache)) {
            assertEquals(List.of(ModelHash.CACHE_FILE), s.map(p -> p.getFileName().toString()).toList(), "no temp files left");
        }
    }

    @Test
    void anUnwritableCacheDirectoryOnlyWarns() throws IOException {
        Path a = gguf(dir.resolve("a.gguf"));
        Path notADir = Files.writeString(dir.resolve("file"), "x");
        String want = identity(ModelHash.ofGguf(a), dir.resolve("clean"));
        assertEquals(want, identity(ModelHash.ofGguf(a), notADir));
        assertTrue(messages.stream().anyMatch(m -> m.contains("cannot write the model hash cache")), messages.toString());
    }

    @Test
    void testsNeverUseTheRealHome() {
        Path d = ModelHash.defaultCacheDir();
        assertTrue(d != null && !d.startsWith(Path.of(System.getProperty("user.home"), ".cache")), String.valueOf(d));
    }

    @Test
    void hfDirectoryIdentityCoversShardsConfigAndTokenizer() throws IOException {
        DecoderConfig c = new DecoderConfig("llama", 64, 2, 4, 2, 16, 96, 300, 512, 1e-5f, 10000f, 16, true,
                DecoderConfig.defaultInvFreq(10000f, 16), false, false);
        Path hf = dir.resolve("hf");
        HfDirWriter.write(hf, c, new InMemoryModel(c, 21), true);
        Path cache = dir.resolve("cache");
        String base;
        try (LoadedModel m = ModelLoader.load(hf)) {
            base = m.fingerprint(cache);
        }
        for (String file : new String[] {"model.safetensors", "tokenizer.json", "config.json"}) {
            Path copy = dir.resolve("hf-" + file);
            Files.createDirectories(copy);
            try (Stream<Path> s = Files.list(hf)) {
                for (Path p : (Iterable<Path>) s::iterator) Files.copy(p, copy.resolve(p.getFileName()));
            }
            try (LoadedModel m = ModelLoader.load(copy)) {
                assertEquals(base, m.fingerprint(cache), "a copy of the directory");
            }
            Path f = copy.resolve(file);
            byte[] bytes = Files.readAllBytes(f);
            if (file.endsWith(".json")) {
                Files.writeString(f, new String(bytes, java.nio.charset.StandardCharsets.UTF_8) + " ");
            } else {
                bytes[bytes.length - 1] ^= 1;
                Files.write(f, bytes);
            }
            try (LoadedModel m = ModelLoader.load(copy)) {
                assertNotEquals(base, m.fingerprint(cache), file + " changed");
            }
        }
    }

    /** A block cache on disk gives a model with the same header but one other weight byte no hits from the first model's blocks. */
    @Test
    void aModelWithOtherWeightsGetsNoBlockCacheHits() throws IOException {
        Path a = gguf(dir.resolve("a.gguf"));
        Path b = GgufEdits.withLastWeightByteChanged(a, dir.resolve("b.gguf"));
        Path blocks = dir.resolve("blocks");
        int[] ctx = new Random(5).ints(120, 3, 300).toArray();
        EngineOptions o = EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(40).withAnchorSize(16);
        try (LoadedModel ma = ModelLoader.load(a)) {
            int[] hm = run(ma, new BlockCache(ma.fingerprint(blocks), 1L << 28, blocks, 1L << 28), o, ctx);
            assertEquals(0, hm[0]);
            assertTrue(hm[1] > 0);
            int[] again = run(ma, new BlockCache(ma.fingerprint(blocks), 1L << 28, blocks, 1L << 28), o, ctx);
            assertEquals(hm[1], again[0], "the same model hits its own blocks from disk");
        }
        try (LoadedModel mb = ModelLoader.load(b)) {
            int[] hm = run(mb, new BlockCache(mb.fingerprint(blocks), 1L << 28, blocks, 1L << 28), o, ctx);
            assertEquals(0, hm[0], "no hits from the other model's blocks");
        }
    }

    /** {hits, misses} of one encode + generate. */
    static int[] run(LoadedModel m, BlockCache cache, EngineOptions o, int[] ctx) {
        InferenceEngine e = new InferenceEngine(m.model(), o).withBlockCache(cache);
        var r = e.generate(e.encode(ctx, ProgressListener.NONE), new int[] {5, 6}, SamplingOptions.greedy(), 2, t -> false, t -> {});
        int hits = 0, misses = 0;
        for (HostStats s : r.hosts()) {
            hits += s.cacheHits;
            misses += s.cacheMisses;
        }
        return new int[] {hits, misses};
    }
}
