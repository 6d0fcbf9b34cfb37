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

/** Q8_0 GGUFs, seeds whose top-1 margins are clear: our greedy tokens equal llama.cpp's for dense, star and ring. */
class LlamaCppQ8OracleTest extends LlamaCppOracle {
    @ParameterizedTest(name = "{0} {1} dim={2} seed={3}")
    @CsvSource({
            "llama, Q8_0, 256, 10",
            "qwen2, Q8_0, 256, 6",
    })
    void greedyTokensEqualLlamaCpp(String arch, GgmlType type, int dim, long seed) throws Exception {
        Case c = new Case(arch, type, dim, seed);
        int[] theirs = c.llamaCpp();
        assertTrue(new HashSet<>(Arrays.stream(theirs).boxed().toList()).size() >= 8,
                "greedy decoding is degenerate: " + Arrays.toString(theirs));
        try (LoadedModel m = ModelLoader.load(c.path)) {
            for (EngineOptions o : modes(c)) {
                int[] ours = c.ours(m, o);
                if (!Arrays.equals(ours, theirs)) {
                    int i = firstDifference(ours, theirs);
                    double gap = c.gap(m, o, theirs, i, ours[i]);
                    assertArrayEquals(theirs, ours, o.mode() + ": first divergence at step " + i + " (ours " + ours[i]
                            + ", llama.cpp " + theirs[i] + ", our logit gap " + gap + ")");
                }
            }
        }
    }

}
