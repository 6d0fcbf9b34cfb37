package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.testutil.InMemoryModel;
import dev.starattn.testutil.ReferenceForward;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The fast forward pass against the double-precision reference, on llama and qwen2 shapes with GQA. */
class ForwardTest {

    static double relError(double[] ref, float[] got) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            num = Math.max(num, Math.abs(ref[i] - got[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        return num / den;
    }

    @Test
    void denseLogitsMatchReference() {
        for (String arch : new String[] {"llama", "qwen2"}) {
            DecoderConfig c = InMemoryModel.config(arch, 64, 2, 4, 2, 96, 50, 512);
            InMemoryModel m = new InMemoryModel(c, 11);
            Random r = new Random(5);
            int n = 37;
            int[] tokens = r.ints(n, 0, c.vocabSize()).toArray();
            int[] pos = new int[n];
            for (int i = 0; i < n; i++) pos[i] = i;
            double[][] ref = new ReferenceForward(c, m.arrays).logits(tokens, pos);
            // Context of n-4 tokens, query of 4 tokens: the first logits are the query's last row.
            InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.dense().withPrefillChunk(16));
            int[] ctx = java.util.Arrays.copyOf(tokens, n - 4);
            int[] q = java.util.Arrays.copyOfRange(tokens, n - 4, n);
            EncodedContext enc = e.encode(ctx, ProgressListener.NONE);
            var res = e.generate(enc, q, SamplingOptions.greedy(), 1, t -> false, t -> {});
            double err = relError(ref[n - 1], res.firstLogits());
            assertTrue(err < 1e-4, arch + ": relative logit error " + err);
        }
    }
}
