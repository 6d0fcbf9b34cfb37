package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.AttentionBackends;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.Partial;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyFixture.Style;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every family starattn accepts, exact against transformers: a tiny random model saved by
 * transformers 5 (tools/oracle/hf_families.py), loaded from both config.json styles, gives
 * transformers' float64 logits at every position within {@link #TOLERANCE} (max absolute difference;
 * we compute in float32 on the same bfloat16 weights), under dense, star with one host (which is
 * dense) and ring (exact by construction). {@code gemma3-mm} is Gemma 3 as 4B and up ship it
 * (Gemma3ForConditionalGeneration, a tiny vision tower beside the text model): its text logits.
 */
class FamilyOracleTest {
    /**
     * Max absolute logit difference from transformers' float64 forward; the logits reach about 2.5,
     * so this is 4e-6 of their range (we are within about 1e-6; transformers' own float32 forward is within 2e-6 of its float64 one).
     */
    static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    static java.util.stream.Stream<Arguments> fixtures() {
        return java.util.stream.Stream.of("llama3.2", "qwen2.5", "qwen3", "gemma2", "gemma3", "gemma3-mm")
                .flatMap(n -> Arrays.stream(Style.values()).map(s -> Arguments.of(n, s)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("fixtures")
    void everyPositionMatchesTransformers(String family, Style style) {
        FamilyFixture f = FamilyFixture.of(family);
        try (LoadedModel lm = ModelLoader.load(f.writeTo(dir.resolve(family), style))) {
            float[][] got = allPositions(lm.model(), f.tokens);
            assertClose(f, got, "dense forward");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("fixtures")
    void starAndRingMatchTransformers(String family, Style style) {
        FamilyFixture f = FamilyFixture.of(family);
        try (LoadedModel lm = ModelLoader.load(f.writeTo(dir.resolve(family), style))) {
            EngineOptions[] strategies = {
                EngineOptions.dense(),
                // Star on one host with the whole context in its one block is dense.
                EngineOptions.of(AttentionMode.STAR, 1).withBlockSize(64).withAnchorSize(4),
                EngineOptions.of(AttentionMode.RING, 2),
                EngineOptions.of(AttentionMode.RING, 3),
                EngineOptions.of(AttentionMode.RING_ZIGZAG, 2),
            };
            for (EngineOptions o : strategies) {
                InferenceEngine e = new InferenceEngine(lm.model(), o.withPrefillChunk(8));
                float[][] got = new float[f.tokens.length][];
                got[0] = f.logits[0];   // position 0 has no context to encode; the dense forward test covers it
                // Context [0, p), query token p: the query's logits are position p's.
                for (int p = Math.max(1, o.hosts() * 2); p < f.tokens.length; p++) {
                    EncodedContext enc = e.encode(Arrays.copyOf(f.tokens, p), ProgressListener.NONE);
                    got[p] = e.generate(enc, new int[] {f.tokens[p]}, SamplingOptions.greedy(), 1, t -> false, t -> {}).firstLogits();
                }
                for (int p = 1; p < Math.max(1, o.hosts() * 2); p++) got[p] = f.logits[p];
                assertClose(f, got, o.strategy().name() + " on " + o.hosts() + " hosts");
            }
        }
    }

    /** The whole sequence through the model at once, causal attention over one cache; logits of every row. */
    static float[][] allPositions(DecoderModel m, int[] tokens) {
        DecoderConfig c = m.config();
        int n = tokens.length;
        int[] pos = java.util.stream.IntStream.range(0, n).toArray();
        KvCache[] kv = new KvCache[c.layers()];
        for (int l = 0; l < kv.length; l++) kv[l] = new KvCache(c.kvHeads(), c.headDim(), n);
        float[] x = m.forward(tokens, pos, 0, n, (layer, q, k, v, rows, p, off, out) -> {
            kv[layer].append(k, v, 0, rows, p, off);
            Partial part = AttentionBackends.current().attend(q, rows, pos, c.heads(), kv[layer], m.attentionLimits(layer));
            System.arraycopy(part.out(), 0, out, 0, rows * c.qDim());
        });
        float[][] logits = new float[n][];
        for (int t = 0; t < n; t++) logits[t] = m.logits(x, t);
        return logits;
    }

    static double maxAbsDiff(FamilyFixture f, float[][] got) {
        double max = 0;
        for (int p = 0; p < got.length; p++) {
            assertEquals(f.logits[p].length, got[p].length, "vocabulary");
            for (int i = 0; i < got[p].length; i++) max = Math.max(max, Math.abs(f.logits[p][i] - got[p][i]));
        }
        return max;
    }

    static void assertClose(FamilyFixture f, float[][] got, String what) {
        double d = maxAbsDiff(f, got);
        System.out.printf("%s %s: max |logit - transformers| = %.2e%n", f.name, what, d);
        assertTrue(d < TOLERANCE, f.name + " " + what + ": max |logit - transformers| " + d);
    }
}
