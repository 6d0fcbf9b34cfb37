package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.tensor.GgmlType;
import dev.starattn.testutil.ReferenceDequant;
import dev.starattn.testutil.ReferenceForward;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * End to end through a real file: RandomLlamaModel writes a GGUF, ModelLoader maps it, the dense
 * engine computes the logits of the last query row, and the double-precision reference forward
 * computes them from the weights as stored in the file (dequantized element by element).
 */
class GgufForwardTest {
    @TempDir Path dir;

    @ParameterizedTest(name = "{0} {1} tied={2}")
    @CsvSource({
            "llama, F32,  false, 1e-4",
            "qwen2, F32,  false, 1e-4",
            "qwen2, F32,  true,  1e-4",
            "llama, F16,  false, 1e-4",
            "qwen2, BF16, false, 1e-4",
            "llama, Q8_0, false, 1e-4",
            "qwen2, Q8_0, true,  1e-4",
            "llama, Q4_0, false, 1e-4",
            "llama, Q4_K, false, 1e-4",
            "qwen2, Q6_K, false, 1e-4",
    })
    void engineMatchesReferenceOnFileWeights(String arch, GgmlType type, boolean tied, double tol) {
        RandomLlamaModel rm = new RandomLlamaModel().arch(arch).dim(256).layers(2).heads(8).kvHeads(2).ffnDim(512)
                .vocab(300).tied(tied).weightType(type).seed(42 + type.ordinal()).contextLength(256);
        Path p = rm.write(dir.resolve(arch + "-" + type + ".gguf"));
        Random r = new Random(7);
        int[] tokens = new int[20];
        tokens[0] = 1;
        for (int i = 1; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(297);
        int[] context = Arrays.copyOf(tokens, 16), query = Arrays.copyOfRange(tokens, 16, 20);
        try (LoadedModel m = ModelLoader.load(p)) {
            assertEquals(arch, m.config().architecture());
            assertEquals(2, m.config().kvHeads());
            assertEquals(tied, m.config().tiedOutput());
            // Weights as the file holds them: equal to rm.weights() for F32, dequantized otherwise.
            Map<String, float[]> w = ReferenceDequant.fileWeights(p);
            if (type == GgmlType.F32) {
                for (var t : w.entrySet()) assertTrue(Arrays.equals(t.getValue(), rm.weights().get(t.getKey())), t.getKey());
            }
            int[] pos = new int[tokens.length];
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            double[] ref = new ReferenceForward(m.config(), w).logits(tokens, pos)[tokens.length - 1];

            InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.dense());
            EncodedContext enc = e.encode(context, ProgressListener.NONE);
            GenerationResult g = e.generate(enc, query, SamplingOptions.greedy(), 0, t -> false, t -> {});
            float[] got = g.firstLogits();
            assertEquals(300, got.length);
            double err = 0, sig = 0, spread = 0;
            for (int i = 0; i < ref.length; i++) {
                err += (got[i] - ref[i]) * (got[i] - ref[i]);
                sig += ref[i] * ref[i];
            }
            double rel = Math.sqrt(err / sig);
            assertTrue(rel < tol, arch + " " + type + ": relative error " + rel);
            // The logits are not degenerate: they spread by units.
            for (double v : ref) spread = Math.max(spread, Math.abs(v));
            assertTrue(spread > 1, "logits spread " + spread);
        }
    }
}
