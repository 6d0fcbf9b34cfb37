package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.KvType;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.testutil.InMemoryModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The block cache never changes an answer: cold, warm, partially warm, from disk, and with bad files. */
class BlockCacheTest {
    static final DecoderConfig CONFIG = InMemoryModel.config("llama", 64, 2, 4, 2, 96, 60, 4096);
    static final DecoderModel MODEL = new InMemoryModel(CONFIG, 3).model();
    static final int[] CONTEXT = new Random(9).ints(200, 3, CONFIG.vocabSize()).toArray();
    static final int[] QUERY = {5, 17, 42, 8, 1};
    // 5 blocks of 40 over 3 hosts (2, 2, 1), anchor 16 < block: an edit in block 0 after token 16 keeps the anchor.
    static final EngineOptions STAR = EngineOptions.of(AttentionMode.STAR, 3).withBlockSize(40).withAnchorSize(16).withPrefillChunk(32);
    static final String FP = "test-model-fingerprint";

    @TempDir Path dir;
    final List<String> warnings = new ArrayList<>();

    record Run(GenerationResult result, int hits, int misses, long phase1Flops) {}

    static Run run(EngineOptions o, BlockCache cache, int[] ctx) {
        InferenceEngine e = new InferenceEngine(MODEL, o).withBlockCache(cache);
        EncodedContext enc = e.encode(ctx, ProgressListener.NONE);
        GenerationResult r = e.generate(enc, QUERY, SamplingOptions.greedy(), 8, t -> false, t -> {});
        int hits = 0, misses = 0;
        long flops = 0;
        for (HostStats s : r.hosts()) {
            hits += s.cacheHits;
            misses += s.cacheMisses;
            flops += s.phase1Flops();
        }
        return new Run(r, hits, misses, flops);
    }

    /**
     * Same answer. Logits are compared to float rounding, not bit for bit: the JIT changes the
     * last bits of the Vector API's exp between the first runs of a JVM and later ones (two runs
     * without any cache differ the same way). The KV itself is compared bit for bit in
     * {@link #assertSameKv}.
     */
    static void assertSame(GenerationResult want, GenerationResult got, String what) {
        assertArrayEquals(want.tokens(), got.tokens(), what + ": tokens");
        StrategyInvariantsTest.assertLogitsClose(want.firstLogits(), got.firstLogits(), 1e-5, what);
    }

    /** The hosts of two encodings hold the very same KV bits, row for row. */
    static void assertSameKv(EncodedContext a, EncodedContext b, String what) {
        assertEquals(a.hosts().size(), b.hosts().size());
        for (int h = 0; h < a.hosts().size(); h++) {
            for (int l = 0; l < CONFIG.layers(); l++) {
                var x = ((LocalContextHost) a.hosts().get(h)).cache(l);
                var y = ((LocalContextHost) b.hosts().get(h)).cache(l);
                assertEquals(x.size(), y.size(), what);
                for (int r = 0; r < x.size(); r++) {
                    assertEquals(x.positions()[r], y.positions()[r]);
                    for (int kh = 0; kh < CONFIG.kvHeads(); kh++) {
                        for (int d = 0; d < CONFIG.headDim(); d++) {
                            assertEquals(Float.floatToRawIntBits(x.key(r, kh, d)), Float.floatToRawIntBits(y.key(r, kh, d)), what + " key");
                            assertEquals(Float.floatToRawIntBits(x.value(r, kh, d)), Float.floatToRawIntBits(y.value(r, kh, d)), what + " value");
                        }
                    }
                }
            }
        }
    }

    static EncodedContext encode(EngineOptions o, BlockCache cache, int[] ctx) {
        return new InferenceEngine(MODEL, o).withBlockCache(cache).encode(ctx, ProgressListener.NONE);
    }

    BlockCache cache() {
        return new BlockCache(FP, 1L << 30, dir, 1L << 30, warnings::add);
    }

    @Test
    void coldWarmAndRestartedCachesGiveTheSameAnswerBitForBit() {
        Run none = run(STAR, null, CONTEXT);
        assertEquals(0, none.hits() + none.misses(), "no cache, no lookups");
        BlockCache cache = cache();
        Run cold = run(STAR, cache, CONTEXT);
        assertSame(none.result(), cold.result(), "cold");
        assertEquals(0, cold.hits());
        assertEquals(5, cold.misses());
        Run warm = run(STAR, cache, CONTEXT);
        assertSame(none.result(), warm.result(), "warm in memory");
        assertEquals(5, warm.hits());
        assertEquals(0, warm.misses());
        assertEquals(0, warm.phase1Flops(), "a hit costs no FLOPs, and no host encodes its anchor");
        assertEquals(5, cache.stats().memoryHits());
        // A restart: a new cache over the same directory finds every block on disk.
        BlockCache restarted = cache();
        assertEquals(5, restarted.stats().diskFiles());
        Run disk = run(STAR, restarted, CONTEXT);
        assertSame(none.result(), disk.result(), "warm from disk");
        assertEquals(5, disk.hits());
        assertEquals(5, restarted.stats().diskHits());
        assertEquals(List.of(), warnings);
        // Bit for bit: the KV a warm (memory or disk) encoding holds is the KV the cold one computed.
        BlockCache fresh = new BlockCache(FP, 1L << 30, dir.resolve("kv"), 1L << 30, warnings::add);
        EncodedContext coldKv = encode(STAR, fresh, CONTEXT);
        assertSameKv(coldKv, encode(STAR, fresh, CONTEXT), "warm in memory");
        assertSameKv(coldKv, encode(STAR, new BlockCache(FP, 1L << 30, dir.resolve("kv"), 1L << 30, warnings::add), CONTEXT), "from disk");
        // f16 and q8_0 blocks are other keys, and from disk they are still bit for bit the same.
        for (KvType t : new KvType[] {KvType.F16, KvType.Q8_0}) {
            EngineOptions o = STAR.withKvTypes(t, KvType.F16);
            Run ref = run(o, null, CONTEXT);
            Run c1 = run(o, cache(), CONTEXT);
            assertEquals(5, c1.misses(), t + ": other KV types are other blocks");
            Run c2 = run(o, cache(), CONTEXT);
            assertEquals(5, c2.hits());
            assertSame(ref.result(), c2.result(), t + " from disk");
            EncodedContext e1 = encode(o, new BlockCache(FP, 1L << 30), CONTEXT);
            assertSameKv(e1, encode(o, cache(), CONTEXT), t + " KV from disk");
        }
    }

    @Test
    void anEditedDocumentReencodesOnlyWhatChanged() {
        BlockCache cache = new BlockCache(FP, 1L << 30);
        run(STAR, cache, CONTEXT);
        // Edit inside block 2 (tokens 80..119): only block 2 is encoded again.
        int[] edited = CONTEXT.clone();
        edited[95] = (edited[95] + 1) % CONFIG.vocabSize();
        Run partial = run(STAR, cache, edited);
        assertSame(run(STAR, null, edited).result(), partial.result(), "edit in block 2");
        assertEquals(4, partial.hits());
        assertEquals(1, partial.misses());
        long[] predicted = FlopModel.phase1PerHost(CONFIG, edited, STAR, b -> b.index() != 2);
        assertEquals(FlopModel.sum(predicted) > 0, partial.phase1Flops() > 0);
        assertEquals(0, predicted[0], "host 0 (blocks 0, 1) does no phase-1 work");
        assertEquals(0, predicted[2], "host 2 (block 4) does no phase-1 work");
        // Edit in block 0 after the anchor (token 30 >= a = 16): blocks 1.. keep their KV.
        int[] edited0 = CONTEXT.clone();
        edited0[30] = (edited0[30] + 1) % CONFIG.vocabSize();
        Run p0 = run(STAR, cache, edited0);
        assertSame(run(STAR, null, edited0).result(), p0.result(), "edit in block 0 outside the anchor");
        assertEquals(1, p0.misses());
        // Edit inside the anchor: every block changes.
        int[] editedAnchor = CONTEXT.clone();
        editedAnchor[3] = (editedAnchor[3] + 1) % CONFIG.vocabSize();
        Run pa = run(STAR, cache, editedAnchor);
        assertSame(run(STAR, null, editedAnchor).result(), pa.result(), "edit in the anchor");
        assertEquals(5, pa.misses());
        // The same blocks at other positions are other blocks: a shifted context misses.
        int[] shifted = new int[CONTEXT.length + 1];
        System.arraycopy(CONTEXT, 0, shifted, 1, CONTEXT.length);
        shifted[0] = CONTEXT[0];
        Run ps = run(STAR.withBlockSize(40), cache, shifted);
        assertTrue(ps.misses() >= 5, "shifted blocks are not reused");
    }

    @Test
    void starInvariantsHoldThroughTheCache() {
        // Star with one block equals dense, warm or cold.
        BlockCache cache = new BlockCache(FP, 1L << 30);
        GenerationResult dense = run(EngineOptions.dense().withPrefillChunk(32), null, CONTEXT).result();
        EngineOptions one = EngineOptions.of(AttentionMode.STAR, 1).withBlockSize(CONTEXT.length).withPrefillChunk(32);
        run(one, cache, CONTEXT);
        Run warm = run(one, cache, CONTEXT);
        assertEquals(1, warm.hits());
        assertArrayEquals(dense.tokens(), warm.result().tokens());
        StrategyInvariantsTest.assertLogitsClose(dense.firstLogits(), warm.result().firstLogits(), 1e-4, "star one block, warm");
        // a = 0: blocks are encoded alone; the cache keeps them apart from anchored ones.
        run(STAR, cache, CONTEXT);
        EngineOptions noAnchor = STAR.withAnchorSize(0);
        Run na = run(noAnchor, cache, CONTEXT);
        assertEquals(4, na.misses(), "only block 0 (no anchor either way, same positions) is shared");
        assertSame(run(noAnchor, null, CONTEXT).result(), na.result(), "a = 0 through the cache");
        // Dense and ring do not use the block cache.
        Run d = run(EngineOptions.dense(), cache, CONTEXT);
        assertEquals(0, d.hits() + d.misses());
    }

    @Test
    void memoryBudgetEvictsLeastRecentlyUsed() {
        BlockCache small = new BlockCache(FP, 1L << 30);
        run(STAR, small, CONTEXT);
        long perBlock = small.stats().memoryBytes() / 5;
        BlockCache cache = new BlockCache(FP, perBlock * 2 + perBlock / 2);
        run(STAR, cache, CONTEXT);
        assertEquals(2, cache.stats().memoryEntries(), "two blocks fit");
        assertEquals(3, cache.stats().memoryEvictions());
        assertTrue(cache.stats().memoryBytes() <= perBlock * 2 + perBlock / 2);
        Run again = run(STAR, cache, CONTEXT);
        assertSame(run(STAR, null, CONTEXT).result(), again.result(), "after evictions");
    }

    @Test
    void diskBudgetEvictsLeastRecentlyUsedFiles() throws IOException {
        run(STAR, cache(), CONTEXT);
        long total = dirBytes();
        long perFile = total / 5;
        BlockCache small = new BlockCache(FP, 0, dir, perFile * 3 + perFile / 2, warnings::add);
        assertEquals(3, small.stats().diskFiles(), "files over the budget are removed at start, oldest first");
        assertTrue(dirBytes() <= perFile * 3 + perFile / 2);
        assertEquals(2, small.stats().diskEvictions());
        Run r = run(STAR, small, CONTEXT);
        assertSame(run(STAR, null, CONTEXT).result(), r.result(), "with a small directory");
        assertEquals(3, countFiles());
    }

    long dirBytes() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.mapToLong(p -> p.toFile().length()).sum();
        }
    }

    long countFiles() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(BlockCache.SUFFIX)).sorted().toList();
        }
    }

    /** Truncated, bit-flipped and foreign files are detected, reported, re-encoded, and never used. */
    @Test
    void badFilesAreRejectedAndEncodedAgain() throws IOException {
        GenerationResult want = run(STAR, null, CONTEXT).result();
        run(STAR, cache(), CONTEXT);
        List<Path> f = files();
        assertEquals(5, f.size());
        // 0: truncated payload; 1: a bit flipped in the payload; 2: a bit flipped in the header;
        // 3: cut inside the header; 4: empty.
        byte[] b0 = Files.readAllBytes(f.get(0));
        Files.write(f.get(0), Arrays.copyOf(b0, b0.length - 7));
        byte[] b1 = Files.readAllBytes(f.get(1));
        b1[b1.length - 100] ^= 0x10;
        Files.write(f.get(1), b1);
        byte[] b2 = Files.readAllBytes(f.get(2));
        b2[40] ^= 0x01;
        Files.write(f.get(2), b2);
        byte[] b3 = Files.readAllBytes(f.get(3));
        Files.write(f.get(3), Arrays.copyOf(b3, 30));
        Files.write(f.get(4), new byte[0]);
        BlockCache restarted = cache();
        Run r = run(STAR, restarted, CONTEXT);
        assertSame(want, r.result(), "after rejecting every file");
        assertEquals(5, r.misses());
        assertEquals(0, r.hits());
        assertEquals(5, restarted.stats().rejectedFiles());
        assertEquals(5, warnings.size(), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("truncated")), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("payload checksum")), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("header checksum")), warnings.toString());
        assertTrue(warnings.stream().allMatch(w -> w.contains("encoded again")));
        // The files were written again, good this time.
        warnings.clear();
        Run again = run(STAR, cache(), CONTEXT);
        assertEquals(5, again.hits());
        assertSame(want, again.result(), "rewritten files");
        assertEquals(List.of(), warnings);
    }

    @Test
    void anotherModelsFileIsRejected() throws IOException {
        // Model A's block files, renamed to the keys model B would look up.
        BlockCache a = new BlockCache("model-A", 1L << 30, dir, 1L << 30, warnings::add);
        run(STAR, a, CONTEXT);
        List<List<BlockTask>> plan = dev.starattn.engine.strategy.Strategies.STAR.blocks(CONTEXT, STAR);
        for (List<BlockTask> host : plan) {
            for (BlockTask t : host) {
                String ka = BlockCache.key("model-A", t, KvType.F32, KvType.F32);
                String kb = BlockCache.key("model-B", t, KvType.F32, KvType.F32);
                assertNotEquals(ka, kb, "the fingerprint is part of the key");
                Files.move(dir.resolve(ka + BlockCache.SUFFIX), dir.resolve(kb + BlockCache.SUFFIX), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        BlockCache b = new BlockCache("model-B", 1L << 30, dir, 1L << 30, warnings::add);
        Run r = run(STAR, b, CONTEXT);
        assertEquals(5, r.misses());
        assertEquals(5, b.stats().rejectedFiles());
        assertTrue(warnings.stream().allMatch(w -> w.contains("another model")), warnings.toString());
        assertSame(run(STAR, null, CONTEXT).result(), r.result(), "model B's own encoding");
        // A file under another block's key is rejected too (the key is in the header).
        warnings.clear();
        List<Path> f = files();
        Files.copy(f.get(0), f.get(1), StandardCopyOption.REPLACE_EXISTING);
        Run r2 = run(STAR, new BlockCache("model-B", 1L << 30, dir, 1L << 30, warnings::add), CONTEXT);
        assertEquals(4, r2.hits());
        assertEquals(1, r2.misses());
        assertTrue(warnings.getFirst().contains("key mismatch"), warnings.toString());
    }
}
