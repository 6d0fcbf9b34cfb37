package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.starattn.cpu.Parallel;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * For a fixed thread count ({@code -Dstarattn.threads}, default all cores) the engine is bit for
 * bit deterministic: the same model, context and query give the same logits run after run, for
 * dense, star and ring, for prefill-shaped (many rows) and decode-shaped (1 to 3 rows) steps.
 */
class DeterminismTest {
    @TempDir
    static Path tmp;
    static LoadedModel model;
    static int[] context;

    @BeforeAll
    static void load() {
        // head_dim 16, kv_dim 32, as in the cluster tests.
        Path file = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(3)
                .contextLength(8192).write(tmp.resolve("m.gguf"));
        model = ModelLoader.load(file);
        context = new Random(7).ints(2600, 1, 300).toArray();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** First logits and greedy tokens of one encode + generate. */
    static GenerationResult run(EngineOptions o, int[] query) {
        InferenceEngine e = new InferenceEngine(model.model(), o);
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        return e.generate(ctx, query, SamplingOptions.greedy(), 4, t -> false, t -> {});
    }

    static void assertBitIdentical(float[] a, float[] b, String what) {
        assertEquals(a.length, b.length, what);
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToIntBits(a[i]) != Float.floatToIntBits(b[i])) {
                float max = 0;
                for (int j = 0; j < a.length; j++) max = Math.max(max, Math.abs(a[j] - b[j]));
                fail(what + ": logit " + i + " differs between runs (" + a[i] + " vs " + b[i]
                        + "; max difference " + max + ", " + Parallel.threads() + " threads)");
            }
        }
    }

    void check(EngineOptions o, String name) {
        Random r = new Random(11);
        for (int qLen : new int[] {9, 1, 3}) { // many rows (tiles) and decode-shaped steps
            int[] query = r.ints(qLen, 1, 300).toArray();
            GenerationResult first = run(o, query);
            for (int rep = 1; rep < 4; rep++) {
                GenerationResult again = run(o, query);
                String what = name + ", query of " + qLen + ", run " + rep;
                assertBitIdentical(first.firstLogits(), again.firstLogits(), what);
                org.junit.jupiter.api.Assertions.assertArrayEquals(first.tokens(), again.tokens(), what + ": tokens");
            }
        }
    }

    @Test
    void denseIsDeterministic() {
        check(EngineOptions.dense(), "dense");
    }

    @Test
    void starIsDeterministic() {
        check(EngineOptions.of(AttentionMode.STAR, 3), "star H=3");
    }

    @Test
    void ringIsDeterministic() {
        check(EngineOptions.of(AttentionMode.RING, 3), "ring H=3");
    }
}
