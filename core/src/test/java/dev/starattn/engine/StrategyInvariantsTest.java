package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.KvCache;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.testutil.InMemoryModel;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The invariants of docs/DESIGN.md that dense, ring and star must hold. */
class StrategyInvariantsTest {
    static final DecoderConfig CONFIG = InMemoryModel.config("llama", 64, 2, 4, 2, 96, 60, 4096);
    static final DecoderModel MODEL = new InMemoryModel(CONFIG, 3).model();
    static final int[] CONTEXT = new Random(9).ints(203, 3, CONFIG.vocabSize()).toArray();
    static final int[] QUERY = {5, 17, 42, 8, 1};

    static GenerationResult run(EngineOptions o, int[] ctx, int[] query, int n) {
        InferenceEngine e = new InferenceEngine(MODEL, o.withPrefillChunk(32));
        EncodedContext enc = e.encode(ctx, ProgressListener.NONE);
        return e.generate(enc, query, SamplingOptions.greedy(), n, t -> false, t -> {});
    }

    static void assertLogitsClose(float[] a, float[] b, double tol, String what) {
        double max = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        assertTrue(max / scale < tol, what + ": relative logit difference " + (max / scale));
    }

    @Test
    void ringEqualsDenseForAnyHostCount() {
        GenerationResult dense = run(EngineOptions.dense(), CONTEXT, QUERY, 12);
        for (int h = 1; h <= 8; h++) {
            for (AttentionMode m : new AttentionMode[] {AttentionMode.RING, AttentionMode.RING_ZIGZAG}) {
                GenerationResult ring = run(EngineOptions.of(m, h), CONTEXT, QUERY, 12);
                assertArrayEquals(dense.tokens(), ring.tokens(), m + " H=" + h + " greedy tokens");
                assertLogitsClose(dense.firstLogits(), ring.firstLogits(), 1e-4, m + " H=" + h);
            }
        }
    }

    @Test
    void starWithOneBlockEqualsDense() {
        GenerationResult dense = run(EngineOptions.dense(), CONTEXT, QUERY, 12);
        // More hosts than blocks is refused (SplitLimitsTest): one block, one host.
        GenerationResult one = run(EngineOptions.of(AttentionMode.STAR, 1).withBlockSize(CONTEXT.length), CONTEXT, QUERY, 12);
        assertArrayEquals(dense.tokens(), one.tokens(), "star one block");
        assertLogitsClose(dense.firstLogits(), one.firstLogits(), 1e-4, "star one block");
        // Context shorter than one block.
        GenerationResult star = run(EngineOptions.of(AttentionMode.STAR, 1).withBlockSize(1000), CONTEXT, QUERY, 4);
        assertArrayEquals(Arrays.copyOf(dense.tokens(), 4), star.tokens());
    }

    /** Star phase-1 KV of block i equals the KV of a dense run over [anchor; block i] with the same positions. */
    @Test
    void starBlockKvEqualsDenseRunOverAnchorAndBlock() {
        int b = 50, a = 20;
        for (AnchorPositions ap : AnchorPositions.values()) {
            for (AnchorContent ac : AnchorContent.values()) {
                EngineOptions o = EngineOptions.of(AttentionMode.STAR, 3).withBlockSize(b).withAnchorSize(a).withAnchor(ap, ac).withSeed(4);
                InferenceEngine e = new InferenceEngine(MODEL, o.withPrefillChunk(16));
                EncodedContext enc = e.encode(CONTEXT, ProgressListener.NONE);
                List<List<BlockTask>> plan = dev.starattn.engine.strategy.Strategies.STAR.blocks(CONTEXT, o);
                assertEquals(List.of(2, 2, 1), plan.stream().map(List::size).toList(), "5 blocks over 3 hosts: the first hosts one more");
                for (int h = 0; h < 3; h++) {
                    KvCache shard = ((LocalContextHost) enc.hosts().get(h)).cache(1);
                    int row = 0;
                    for (BlockTask t : plan.get(h)) {
                        // Reference: a dense host over [anchor ; block] with the same position ids.
                        int[] toks = concat(t.anchorTokens(), t.tokens());
                        int[] pos = concat(t.anchorPositions(), t.positions());
                        LocalContextHost ref = new LocalContextHost("ref", MODEL, 1000);
                        KvCache[] caches = ref.freshCaches(toks.length);
                        ref.prefill(toks, pos, caches, true);
                        KvCache want = caches[1];
                        int stride = CONFIG.kvDim();
                        for (int i = 0; i < t.tokens().length; i++, row++) {
                            assertEquals(t.positions()[i], shard.positions()[row]);
                            for (int d = 0; d < stride; d++) {
                                assertEquals(want.keys()[(t.anchorTokens().length + i) * stride + d], shard.keys()[row * stride + d], 1e-4,
                                        ap + "/" + ac + " block " + t.index() + " key");
                            }
                        }
                        if (t.index() > 0) assertEquals(Math.min(a, t.start()), t.anchorTokens().length);
                    }
                    assertEquals(row, shard.size(), "the anchor's KV is not kept");
                }
            }
        }
    }

    /** With a = 0 each block is encoded alone: its KV equals a dense run over that block only. */
    @Test
    void starWithoutAnchorIsBlockLocal() {
        int b = 64;
        EngineOptions o = EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(b).withAnchorSize(0);
        EncodedContext enc = new InferenceEngine(MODEL, o).encode(CONTEXT, ProgressListener.NONE);
        // Block 2 (positions 128..191) is on host 1 (blocks 2,3 of 4).
        KvCache shard = ((LocalContextHost) enc.hosts().get(1)).cache(1);
        LocalContextHost ref = new LocalContextHost("ref", MODEL, 1000);
        KvCache[] caches = ref.freshCaches(b);
        ref.prefill(Arrays.copyOfRange(CONTEXT, 128, 192), BlockPlan.range(128, 192), caches, true);
        for (int i = 0; i < b * CONFIG.kvDim(); i++) assertEquals(caches[1].keys()[i], shard.keys()[i], 1e-4);
    }

    @Test
    void starPhase2MatchesDenseAttentionOverTheSameKv() {
        // Star's phase-1 KV differs from dense, but phase 2 is exact over whatever KV the hosts hold:
        // gathering all shards into one dense host and attending there must give the same logits.
        EngineOptions o = EngineOptions.of(AttentionMode.STAR, 4).withBlockSize(40).withAnchorSize(16);
        InferenceEngine e = new InferenceEngine(MODEL, o);
        EncodedContext enc = e.encode(CONTEXT, ProgressListener.NONE);
        GenerationResult star = e.generate(enc, QUERY, SamplingOptions.greedy(), 6, t -> false, t -> {});
        LocalContextHost one = new LocalContextHost("all", MODEL, 64);
        for (int l = 0; l < CONFIG.layers(); l++) {
            for (ContextHost h : enc.hosts()) one.cache(l).appendAll(((LocalContextHost) h).cache(l));
        }
        EncodedContext gathered = new EncodedContext(CONTEXT, List.of(one), one, o, 0);
        GenerationResult single = e.generate(gathered, QUERY, SamplingOptions.greedy(), 6, t -> false, t -> {});
        assertArrayEquals(single.tokens(), star.tokens());
        assertLogitsClose(single.firstLogits(), star.firstLogits(), 1e-4, "star phase 2 vs one host");
        // The context is reusable: a second query gives the same answer as the first.
        GenerationResult again = e.generate(enc, QUERY, SamplingOptions.greedy(), 6, t -> false, t -> {});
        assertArrayEquals(star.tokens(), again.tokens());
    }

    @Test
    void edgesAreHandled() {
        // More hosts than blocks or tokens, and anchors longer than a block, are refused: SplitLimitsTest.
        GenerationResult dense = run(EngineOptions.dense(), CONTEXT, QUERY, 3);
        GenerationResult ring = run(EngineOptions.of(AttentionMode.RING, 5), Arrays.copyOf(CONTEXT, 5), QUERY, 3);
        GenerationResult dense5 = run(EngineOptions.dense(), Arrays.copyOf(CONTEXT, 5), QUERY, 3);
        assertArrayEquals(dense5.tokens(), ring.tokens(), "ring with one token per host");
        InferenceEngine e = new InferenceEngine(MODEL, EngineOptions.dense());
        EncodedContext enc = e.encode(CONTEXT, ProgressListener.NONE);
        assertThrows(IllegalArgumentException.class, () -> e.generate(enc, new int[0], SamplingOptions.greedy(), 2, t -> false, t -> {}));
        assertThrows(IllegalArgumentException.class, () -> e.encode(new int[0], ProgressListener.NONE));
        assertThrows(IllegalArgumentException.class, () -> e.encode(new int[5000], ProgressListener.NONE), "longer than the context length");
        assertTrue(dense.tokens().length == 3);
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

}
