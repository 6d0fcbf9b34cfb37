package dev.starattn.blas;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
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
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The engine with the native GEMM on (every chunk of 2+ tokens through OpenBLAS) against the
 * double-precision reference forward of the test tree, through a real GGUF file, as core's
 * GgufForwardTest does for the Java kernel.
 */
@ExtendWith(NativeGemmForced.class)
class NativeForwardTest {
    @TempDir static Path dir;

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
            "llama, F32",
            "qwen2, F16",
            "llama, Q8_0",
            "qwen2, Q4_K",
            "llama, Q6_K",
    })
    void engineMatchesReference(String arch, GgmlType type) throws Exception {
        RandomLlamaModel rm = new RandomLlamaModel().arch(arch).dim(256).layers(2).heads(8).kvHeads(2).ffnDim(512)
                .vocab(300).weightType(type).seed(42 + type.ordinal()).contextLength(256);
        Path p = rm.write(dir.resolve(arch + "-" + type + ".gguf"));
        Random r = new Random(7);
        int[] tokens = new int[75];
        tokens[0] = 1;
        for (int i = 1; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(297);
        int[] context = Arrays.copyOf(tokens, 70), query = Arrays.copyOfRange(tokens, 70, 75);
        try (LoadedModel m = ModelLoader.load(p)) {
            Map<String, float[]> w = ReferenceDequant.fileWeights(p);
            int[] pos = new int[tokens.length];
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            double[] ref = new ReferenceForward(m.config(), w).logits(tokens, pos)[tokens.length - 1];
            InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.dense().withPrefillChunk(32));
            EncodedContext enc = e.encode(context, ProgressListener.NONE);
            float[] got = e.generate(enc, query, SamplingOptions.greedy(), 0, t -> false, t -> {}).firstLogits();
            double err = 0, sig = 0;
            for (int i = 0; i < ref.length; i++) {
                err += (got[i] - ref[i]) * (got[i] - ref[i]);
                sig += ref[i] * ref[i];
            }
            double rel = Math.sqrt(err / sig);
            assertTrue(rel < 1e-4, arch + " " + type + ": relative error " + rel);
        }
    }
}
