package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyFixture.Style;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sliding-window layers (Gemma's) under star and ring: a query at position p sees keys at (p - W, p]
 * on every host, in phase-1 blocks, ring visits and phase-2 merges, and what no query's window
 * reaches is not sent: ring blocks go no further than the last host that sees them, and phase 2
 * does not ask a host whose keys all lie before every query's window.
 */
class SlidingWindowStrategiesTest {
    @TempDir
    Path dir;

    /** The query's logits and every host's stats after encoding {@code context} and one query token. */
    record Run(float[] logits, List<HostStats> stats) {}

    static Run run(LoadedModel m, EngineOptions o, int[] tokens, int contextLength) {
        InferenceEngine e = new InferenceEngine(m.model(), o.withPrefillChunk(8));
        EncodedContext enc = e.encode(Arrays.copyOf(tokens, contextLength), ProgressListener.NONE);
        GenerationResult r = e.generate(enc, new int[] {tokens[contextLength]}, SamplingOptions.greedy(), 1, t -> false, t -> {});
        return new Run(r.firstLogits(), r.hosts());
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    /** The Gemma 2 fixture (window 8) with every layer sliding. */
    private LoadedModel allSliding(FamilyFixture f, int window) {
        return ModelLoader.load(f.writeTo(dir.resolve("w" + window), Style.V5,
                c -> c.replace("\"full_attention\"", "\"sliding_attention\"").replace("\"sliding_window\": 8", "\"sliding_window\": " + window)));
    }

    /**
     * Star equals dense when the window hides everything star changes. With every layer sliding (window
     * W, L layers), the query at p depends on context positions [p - L(W-1), p) only: at the last layer
     * it sees keys in (p - W, p], whose values depend on positions W - 1 further back at the layer
     * below, and so on down to the embeddings. Star computes the last block's KV from [anchor; block]:
     * exactly dense's wherever the positions a query depends on lie in the block and the anchor (at
     * its original positions 0..a-1) lies outside every window of the block's queries. Here W = 8,
     * L = 2: the last block must start at or before p - 14, and at or after a + W - 1 = 11.
     */
    @Test
    void starEqualsDenseWhenTheLastBlockCoversTheQuerysReachAndTheAnchorIsOutOfEveryWindow() {
        FamilyFixture f = FamilyFixture.of("gemma2");
        int p = f.tokens.length - 1;   // 39
        try (LoadedModel m = allSliding(f, 8)) {
            assertEquals(2, m.config().layers());
            Run dense = run(m, EngineOptions.dense(), f.tokens, p);
            // Blocks [0, 20) and [20, 39): 20 <= 39 - 14 and 20 >= 4 + 7.
            Run star = run(m, EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(20).withAnchorSize(4), f.tokens, p);
            assertTrue(maxAbsDiff(dense.logits(), star.logits()) < 1e-5, "star vs dense " + maxAbsDiff(dense.logits(), star.logits()));
            // The first host's keys (positions 0..19) are all before the query's window (31, 39]: never asked in phase 2.
            assertEquals(0, star.stats().get(0).phase2BytesSent, "the first host is not asked");
            assertEquals(0, star.stats().get(0).phase2AttentionFlops);

            // The same star with the last block starting too late (32 > 39 - 14): star differs from dense,
            // which shows the condition above is what makes them equal (and that the test can fail).
            Run late = run(m, EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(16).withAnchorSize(4), f.tokens, p);
            assertTrue(maxAbsDiff(dense.logits(), late.logits()) > 1e-3, "a block too short for the query's reach changes the logits");
        }
    }

    @Test
    void ringSendsBlocksOnlyAsFarAsSomeWindowReaches() {
        FamilyFixture f = FamilyFixture.of("gemma2");
        int p = f.tokens.length - 1;
        long[] received = new long[2];
        int i = 0;
        for (int window : new int[] {8, 4096}) {
            try (LoadedModel m = allSliding(f, window)) {
                Run dense = run(m, EngineOptions.dense(), f.tokens, p);
                Run ring = run(m, EngineOptions.of(AttentionMode.RING, 4), f.tokens, p);
                assertTrue(maxAbsDiff(dense.logits(), ring.logits()) < 1e-5, "ring vs dense, window " + window);
                received[i++] = ring.stats().stream().mapToLong(s -> s.phase1BytesReceived).sum();
            }
        }
        // Shares of 10 tokens, window 8: host 0's block reaches host 1 only (host 2's queries start at 20).
        assertTrue(received[0] < received[1], "blocks out of every window travel: " + received[0] + " vs " + received[1]);
    }
}
