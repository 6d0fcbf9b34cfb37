package dev.starattn.oracle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GgmlType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Q8_0 GGUFs on which we and llama.cpp part: the parting must be at a near-tie of our logits. */
class LlamaCppNearTieTest extends LlamaCppOracle {
    /** Seeds on which our greedy run and llama.cpp's part: they must part at a near-tie. */
    @ParameterizedTest(name = "{0} {1} dim={2} seed={3}")
    @CsvSource({
            "llama, Q8_0, 256, 4",
            "qwen2, Q8_0, 256, 5",
    })
    void firstDivergenceIsANearTie(String arch, GgmlType type, int dim, long seed) throws Exception {
        Case c = new Case(arch, type, dim, seed);
        int[] theirs = c.llamaCpp();
        // F32: both sides compute in float; Q8_0: llama.cpp's activation quantization moves logits.
        double tieTolerance = type == GgmlType.F32 ? 0.01 : 0.3;
        try (LoadedModel m = ModelLoader.load(c.path)) {
            EngineOptions o = EngineOptions.dense();
            int[] ours = c.ours(m, o);
            int i = firstDifference(ours, theirs);
            if (i < 0) return;
            double gap = c.gap(m, o, theirs, i, ours[i]);
            System.out.printf("llama.cpp oracle: %s %s seed %d: first divergence at step %d, our logit gap %.4f%n",
                    arch, type, seed, i, gap);
            assertTrue(gap >= 0 && gap < tieTolerance, "first divergence at step " + i + " is not a near-tie: our logit of "
                    + ours[i] + " exceeds that of llama.cpp's " + theirs[i] + " by " + gap);
        }
    }

}
