package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.strategy.StarPassStrategy;
import dev.starattn.engine.strategy.Strategies;
import org.junit.jupiter.api.Test;

/** Star-pass between its two limits: no rows passed is star, every row passed is dense. */
class StarPassTest {
    private static final int[] CTX = StrategyInvariantsTest.CONTEXT;
    private static final int[] QUERY = StrategyInvariantsTest.QUERY;

    private static EngineOptions pass(int k, int hosts) {
        return EngineOptions.of(Strategies.STAR_PASS.withPassTokens(k), hosts);
    }

    @Test
    void passingNothingIsStar() {
        EngineOptions[][] pairs = {
            {EngineOptions.of(Strategies.STAR, 4), pass(0, 4).withAnchorSize(51)},
            {EngineOptions.of(Strategies.STAR, 3).withBlockSize(40).withAnchorSize(16), pass(0, 3).withBlockSize(40).withAnchorSize(16)},
        };
        for (EngineOptions[] p : pairs) {
            GenerationResult star = StrategyInvariantsTest.run(p[0], CTX, QUERY, 10);
            GenerationResult none = StrategyInvariantsTest.run(p[1], CTX, QUERY, 10);
            assertArrayEquals(star.tokens(), none.tokens(), "star-pass K=0 against star, H=" + p[0].hosts());
            StrategyInvariantsTest.assertLogitsClose(star.firstLogits(), none.firstLogits(), 1e-4, "K=0 H=" + p[0].hosts());
        }
    }

    @Test
    void passingEverythingIsDense() {
        GenerationResult dense = StrategyInvariantsTest.run(EngineOptions.dense(), CTX, QUERY, 10);
        for (EngineOptions o : new EngineOptions[] {pass(1000, 4), pass(1000, 3).withBlockSize(40).withAnchorSize(8), pass(64, 5).withAnchorSize(0)}) {
            GenerationResult all = StrategyInvariantsTest.run(o, CTX, QUERY, 10);
            assertArrayEquals(dense.tokens(), all.tokens(), "star-pass passing every row, H=" + o.hosts());
            StrategyInvariantsTest.assertLogitsClose(dense.firstLogits(), all.firstLogits(), 1e-4, "every row H=" + o.hosts());
        }
    }

    @Test
    void somePassingRowsChangeTheLaterHostsOnly() {
        EngineOptions star = EngineOptions.of(Strategies.STAR, 4).withAnchorSize(12);
        EncodedContext a = new InferenceEngine(StrategyInvariantsTest.MODEL, star).encode(CTX, ProgressListener.NONE);
        EncodedContext b = new InferenceEngine(StrategyInvariantsTest.MODEL, pass(8, 4).withAnchorSize(12)).encode(CTX, ProgressListener.NONE);
        LocalContextHost a0 = (LocalContextHost) a.hosts().get(0), b0 = (LocalContextHost) b.hosts().get(0);
        LocalContextHost a3 = (LocalContextHost) a.hosts().get(3), b3 = (LocalContextHost) b.hosts().get(3);
        int last = StrategyInvariantsTest.CONFIG.layers() - 1;
        // The rows held, not the arrays: their spare capacity depends on how the cache was filled.
        assertArrayEquals(heldKeys(a0, last), heldKeys(b0, last), "the first host sees no passing rows");
        assertNotEquals(a3.cache(last).keys()[0], b3.cache(last).keys()[0], "the last host sees the earlier hosts' rows");
    }

    @Test
    void measuredFlopsEqualTheModelAndRowsAreCountedOnTheWire() {
        for (EngineOptions o : new EngineOptions[] {pass(8, 4), pass(0, 4), pass(1000, 3), pass(5, 3).withBlockSize(40).withAnchorSize(16)}) {
            EncodedContext enc = new InferenceEngine(StrategyInvariantsTest.MODEL, o.withPrefillChunk(32)).encode(CTX, ProgressListener.NONE);
            long[] predicted = FlopModel.phase1PerHost(StrategyInvariantsTest.CONFIG, CTX.length, o);
            long sent = 0, received = 0;
            for (int h = 0; h < predicted.length; h++) {
                HostStats s = enc.hosts().get(h).stats();
                assertEquals(predicted[h], s.phase1Flops(), o.strategy().name() + " H=" + o.hosts() + " host " + h);
                sent += s.phase1BytesSent;
                received += s.phase1BytesReceived;
            }
            assertEquals(sent, received, "every row sent is received");
            StarPassStrategy p = (StarPassStrategy) o.strategy();
            assertEquals(p.passTokens() == 0, sent == 0, "rows travel when some are passed: " + o.strategy().name());
            assertEquals(0, enc.hosts().getFirst().stats().phase1WaitNanos, "the first host waits for nobody");
        }
    }

    @Test
    void passingCostsLessThanStarWithTheBlockAsAnchor() {
        long star = FlopModel.max(FlopModel.phase1PerHost(StrategyInvariantsTest.CONFIG, 4096, EngineOptions.of(Strategies.STAR, 8)));
        long pass = FlopModel.max(FlopModel.phase1PerHost(StrategyInvariantsTest.CONFIG, 4096, EngineOptions.of(Strategies.STAR_PASS, 8)));
        assertTrue(pass < star, "star-pass with its default anchor and K: " + pass + " against star's " + star);
        assertEquals(128, EngineOptions.of(Strategies.STAR_PASS, 8).effectiveAnchorSize(4096), "a quarter of the block");
    }

    @Test
    void namesAndOptions() {
        assertEquals(16, ((StarPassStrategy) Strategies.byName("star-pass:16")).passTokens());
        assertEquals("star-pass:16", Strategies.byName("star_pass:16").name());
        assertEquals(Strategies.STAR_PASS, Strategies.byName("star-pass"));
        assertEquals(7, ((StarPassStrategy) Strategies.byName("star-pass", 7)).passTokens());
        assertThrows(IllegalArgumentException.class, () -> Strategies.byName("star", 7));
        assertThrows(IllegalArgumentException.class, () -> Strategies.byName("star-pass:x"));
        assertThrows(IllegalArgumentException.class, () -> Strategies.byName("star-pass", -1));
        assertThrows(IllegalArgumentException.class, () -> new InferenceEngine(StrategyInvariantsTest.MODEL, pass(4, 300)).encode(CTX, ProgressListener.NONE));
    }

    private static float[] heldKeys(LocalContextHost h, int layer) {
        var c = h.cache(layer);
        return java.util.Arrays.copyOf(c.keys(), c.size() * c.kvHeads() * c.headDim());
    }

    /** The KV of every layer, layer by layer: the keys of all hosts' rows in position order, then their values. */
    private static float[] kv(EncodedContext enc) {
        java.util.List<float[]> parts = new java.util.ArrayList<>();
        int kvDim = StrategyInvariantsTest.CONFIG.kvDim();
        for (int layer = 0; layer < StrategyInvariantsTest.CONFIG.layers(); layer++) {
            for (boolean keys : new boolean[] {true, false}) {
                for (ContextHost h : enc.hosts()) {
                    var c = ((LocalContextHost) h).cache(layer);
                    parts.add(java.util.Arrays.copyOf(keys ? c.keysF32(0, c.size()) : c.valuesF32(0, c.size()), c.size() * kvDim));
                }
            }
        }
        int n = parts.stream().mapToInt(x -> x.length).sum();
        float[] out = new float[n];
        int at = 0;
        for (float[] x : parts) {
            System.arraycopy(x, 0, out, at, x.length);
            at += x.length;
        }
        return out;
    }

    /**
     * A host with several blocks computes their shared anchor once, and its blocks' KV is what one block per host
     * gives (where every block computes its own anchor); a moved anchor (adjacent positions) is computed per block.
     */
    @Test
    void blocksOfAHostShareTheirAnchorWithTheSameResult() {
        int blocks = (CTX.length + 39) / 40;
        for (dev.starattn.engine.AnchorPositions ap : new dev.starattn.engine.AnchorPositions[] {
                dev.starattn.engine.AnchorPositions.ORIGINAL, dev.starattn.engine.AnchorPositions.ADJACENT}) {
            EngineOptions two = pass(6, 2).withBlockSize(40).withAnchorSize(16).withAnchor(ap, dev.starattn.engine.AnchorContent.FIRST);
            EngineOptions each = two.withHosts(blocks);
            EncodedContext shared = new InferenceEngine(StrategyInvariantsTest.MODEL, two).encode(CTX, ProgressListener.NONE);
            EncodedContext apart = new InferenceEngine(StrategyInvariantsTest.MODEL, each).encode(CTX, ProgressListener.NONE);
            float[] a = kv(shared), b = kv(apart);
            assertEquals(b.length, a.length);
            for (int i = 0; i < a.length; i++) assertEquals(b[i], a[i], 0f, ap + ": KV element " + i);
            long sharedFlops = 0, apartFlops = 0;
            for (ContextHost h : shared.hosts()) sharedFlops += h.stats().phase1Flops();
            for (ContextHost h : apart.hosts()) apartFlops += h.stats().phase1Flops();
            if (ap == dev.starattn.engine.AnchorPositions.ORIGINAL) {
                assertTrue(sharedFlops < apartFlops, "the anchor once per host: " + sharedFlops + " against " + apartFlops);
            } else {
                assertEquals(apartFlops, sharedFlops, "an adjacent anchor differs per block: computed for each");
            }
            GenerationResult g2 = StrategyInvariantsTest.run(two, CTX, QUERY, 8), gb = StrategyInvariantsTest.run(each, CTX, QUERY, 8);
            assertArrayEquals(gb.tokens(), g2.tokens(), ap.toString());
            StrategyInvariantsTest.assertLogitsClose(gb.firstLogits(), g2.firstLogits(), 1e-4, ap.toString());
        }
    }

    /**
     * The block cache serves star-pass: a context encoded again is taken from it whole, with the same KV; an edit
     * in one block leaves the blocks before it cached and recomputes it and every later one (their passing rows change).
     */
    @Test
    void theBlockCacheServesStarPassUpToTheFirstChangedBlock() {
        BlockCache cache = new BlockCache("test-model", 1L << 26);
        EngineOptions o = pass(6, 3).withBlockSize(40).withAnchorSize(16);
        InferenceEngine e = new InferenceEngine(StrategyInvariantsTest.MODEL, o).withBlockCache(cache);
        int blocks = (CTX.length + 39) / 40;
        EncodedContext first = e.encode(CTX, ProgressListener.NONE);
        assertEquals(java.util.List.of(0, blocks), hitsAndMisses(first));
        EncodedContext again = e.encode(CTX, ProgressListener.NONE);
        assertEquals(java.util.List.of(blocks, 0), hitsAndMisses(again));
        assertArrayEquals(kv(first), kv(again));
        GenerationResult fresh = StrategyInvariantsTest.run(o, CTX, QUERY, 8);
        GenerationResult cached = e.generate(e.encode(CTX, ProgressListener.NONE), QUERY, SamplingOptions.greedy(), 8, t -> false, t -> {});
        assertArrayEquals(fresh.tokens(), cached.tokens());

        int[] edited = CTX.clone();
        edited[2 * 40 + 5] = edited[2 * 40 + 5] == 3 ? 4 : 3;  // in block 2
        EncodedContext changed = e.encode(edited, ProgressListener.NONE);
        assertEquals(java.util.List.of(2, blocks - 2), hitsAndMisses(changed));
        EncodedContext uncached = new InferenceEngine(StrategyInvariantsTest.MODEL, o).encode(edited, ProgressListener.NONE);
        assertArrayEquals(kv(uncached), kv(changed));
        // star's entries are not star-pass's: the same blocks under star miss
        EncodedContext star = new InferenceEngine(StrategyInvariantsTest.MODEL, o.withStrategy(Strategies.STAR)).withBlockCache(cache)
                .encode(CTX, ProgressListener.NONE);
        assertEquals(0, hitsAndMisses(star).get(0), "star's keys are not star-pass's");
    }

    /** What a GPU host copies down, the window's queries and the block's keys, chooses the rows the whole arrays do. */
    @Test
    void choosingFromTheWindowAloneEqualsChoosingFromTheWholeArrays() {
        java.util.Random rnd = new java.util.Random(5);
        int heads = 4, kvHeads = 2, hd = 16, window = 8, from = 7;
        // block rows, rows to pass, rows skipped: a block shorter than the window, skips, and K at or past the candidates
        int[][] cases = {{40, 6, 0}, {40, 6, 12}, {5, 2, 0}, {40, 40, 0}, {40, 30, 12}, {40, 0, 0}, {12, 3, 12}};
        for (int[] t : cases) {
            int m = t[0], k = t[1], skip = t[2];
            float[] q = new float[(from + m) * heads * hd], keys = new float[(from + m) * kvHeads * hd];
            for (int i = 0; i < q.length; i++) q[i] = (float) rnd.nextGaussian() * 2;
            for (int i = 0; i < keys.length; i++) keys[i] = (float) rnd.nextGaussian() * 2;
            int w = Math.min(window, m);
            float[] windowQ = java.util.Arrays.copyOfRange(q, (from + m - w) * heads * hd, (from + m) * heads * hd);
            float[] blockKeys = java.util.Arrays.copyOfRange(keys, from * kvHeads * hd, (from + m) * kvHeads * hd);
            int[] whole = PassSelector.select(q, keys, from, m, heads, kvHeads, hd, window, k, skip);
            int[] windowed = PassSelector.selectFromWindow(windowQ, blockKeys, m, heads, kvHeads, hd, window, k, skip);
            assertArrayEquals(whole, windowed, "m=" + m + " k=" + k + " skip=" + skip);
            assertEquals(Math.min(k, Math.max(0, m - skip)), windowed.length);
        }
        // Nothing to score: the arrays are not read.
        assertArrayEquals(new int[] {2, 3, 4}, PassSelector.selectFromWindow(null, null, 5, heads, kvHeads, hd, window, 9, 2));
    }

    /** Hosts that are neither in-process CPU hosts nor remote (GPU hosts) each get their place in the run, and its rule. */
    @Test
    void otherInProcessHostsGetPassLinksAndAMixIsRefused() {
        StarPassStrategy sp = Strategies.STAR_PASS.withPassTokens(5);
        EngineOptions o = EngineOptions.of(sp, 3);
        java.util.List<LinkTaker> hosts = java.util.List.of(new LinkTaker("g0"), new LinkTaker("g1"), new LinkTaker("g2"));
        sp.encode(CTX, o, hosts, ProgressListener.NONE);
        java.util.List<EncodeTask> plan = sp.plan(CTX, o);
        String runId = hosts.getFirst().task.pass().runId();
        for (int h = 0; h < hosts.size(); h++) {
            EncodeTask t = hosts.get(h).task;
            assertEquals(h, t.pass().index());
            assertEquals(runId, t.pass().runId(), "one run");
            assertEquals(hosts, t.pass().members());
            assertEquals(sp.rule(CTX.length, o), t.pass().rule());
            assertEquals(plan.get(h).blocks().size(), t.blocks().size());
            for (int b = 0; b < t.blocks().size(); b++) assertArrayEquals(plan.get(h).blocks().get(b).positions(), t.blocks().get(b).positions());
        }
        java.util.List<ContextHost> mixed = java.util.List.of(new LinkTaker("g0"),
                new LocalContextHost("cpu", StrategyInvariantsTest.MODEL, 32), new LinkTaker("g2"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sp.encode(CTX, o, mixed, ProgressListener.NONE));
        assertEquals(StarPassStrategy.MIX_REFUSAL, e.getMessage());
    }

    /** An in-process host of another kind that only records the task it is given. */
    private static final class LinkTaker implements ContextHost {
        private final String name;
        private final HostStats stats;
        volatile EncodeTask task;

        LinkTaker(String name) {
            this.name = name;
            this.stats = new HostStats(name);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public HostStats stats() {
            return stats;
        }

        @Override
        public void encode(EncodeTask task, ProgressListener progress) {
            this.task = task;
        }

        @Override
        public dev.starattn.attention.Partial attend(int layer, float[] q, int rows, int[] qPos) {
            throw new UnsupportedOperationException("phase 1 only");
        }

        @Override
        public int kvTokens() {
            return 0;
        }

        @Override
        public long kvBytes() {
            return 0;
        }

        @Override
        public void clear() {}
    }

    private static java.util.List<Integer> hitsAndMisses(EncodedContext enc) {
        int hits = 0, misses = 0;
        for (ContextHost h : enc.hosts()) {
            hits += h.stats().cacheHits;
            misses += h.stats().cacheMisses;
        }
        return java.util.List.of(hits, misses);
    }
}
