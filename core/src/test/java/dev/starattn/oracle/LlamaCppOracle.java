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
import dev.starattn.testutil.RepoPaths;
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

/**
 * Shared parts of the llama.cpp oracle tests. llama.cpp as an independent oracle (node-llama-cpp 3.21.1, its prebuilt CPU binary, driven by
 * {@code oracle/llamacpp-greedy.mjs}): on the same random-weight GGUF and the same prompt token ids,
 * our greedy generation of 32 tokens must equal llama.cpp's, for dense, star (one block covering the
 * context, which is dense-equivalent) and ring attention. llama.cpp runs with an F32 KV cache and
 * without flash attention. Skipped only when node or oracle/node_modules is missing.
 *
 * <p>Q8_0: llama.cpp quantizes activations to Q8 for Q8_0 matmuls, we do not, so logits differ by a
 * few hundredths and near-ties can flip; {@link #firstDivergenceIsANearTie} checks that on seeds
 * where that happens, and {@link #greedyTokensEqualLlamaCpp} uses seeds whose margins are clear.
 */
abstract class LlamaCppOracle {
    static final ObjectMapper OM = new ObjectMapper();
    static final int N = 32, PROMPT = 24, QUERY = 4, VOCAB = 320;
    static Path oracleDir;
    @TempDir static Path dir;

    @BeforeAll
    static void findOracle() {
        oracleDir = findOracleDir();
        assumeTrue(oracleDir != null && Files.isDirectory(oracleDir.resolve("node_modules/node-llama-cpp")),
                "oracle/node_modules is not installed (run npm ci in oracle/)");
        assumeTrue(nodeAvailable(), "node is not installed");
    }

    /** Every exact mode: star over one block of the whole context is exact, ring always is. */
    static List<EngineOptions> modes(Case c) {
        int ctx = PROMPT - QUERY;
        return List.of(EngineOptions.dense(),
                EngineOptions.of(AttentionMode.STAR, 1).withBlockSize(ctx),
                EngineOptions.of(AttentionMode.RING, 3));
    }

    /** Our greedy tokens equal llama.cpp's in every mode; on failure, names the step and our logit gap there. */
    static void assertGreedyTokensEqualLlamaCpp(String arch, GgmlType type, int dim, long seed) throws Exception {
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
                    assertArrayEquals(theirs, ours, o.strategy().name() + ": first divergence at step " + i + " (ours " + ours[i]
                            + ", llama.cpp " + theirs[i] + ", our logit gap " + gap + ")");
                }
            }
        }
    }

    static int firstDifference(int[] a, int[] b) {
        for (int i = 0; i < Math.min(a.length, b.length); i++) if (a[i] != b[i]) return i;
        return a.length == b.length ? -1 : Math.min(a.length, b.length);
    }

    static final class Case {
        final Path path;
        final int[] prompt = new int[PROMPT];

        Case(String arch, GgmlType type, int dim, long seed) {
            path = new RandomLlamaModel().arch(arch).dim(dim).layers(3).heads(8).kvHeads(2).ffnDim(2 * dim)
                    .vocab(VOCAB).weightType(type).seed(seed).contextLength(512)
                    .write(dir.resolve(arch + "-" + type + "-" + dim + "-" + seed + ".gguf"));
            Random r = new Random(seed);
            prompt[0] = 1; // BOS, given explicitly to both sides
            for (int i = 1; i < PROMPT; i++) prompt[i] = RandomLlamaModel.FIRST_BYTE_TOKEN + r.nextInt(VOCAB - RandomLlamaModel.FIRST_BYTE_TOKEN);
        }

        int[] context() { return Arrays.copyOf(prompt, PROMPT - QUERY); }

        int[] query() { return Arrays.copyOfRange(prompt, PROMPT - QUERY, PROMPT); }

        int[] ours(LoadedModel m, EngineOptions o) {
            InferenceEngine e = new InferenceEngine(m.model(), o);
            EncodedContext enc = e.encode(context(), ProgressListener.NONE);
            return e.generate(enc, query(), SamplingOptions.greedy(), N, t -> false, t -> {}).tokens();
        }

        /** At step i (after the common prefix), our logit of {@code ours} minus our logit of {@code theirs[i]}. */
        double gap(LoadedModel m, EngineOptions o, int[] theirs, int i, int ours) {
            InferenceEngine e = new InferenceEngine(m.model(), o);
            EncodedContext enc = e.encode(context(), ProgressListener.NONE);
            int[] q = IntStream.concat(Arrays.stream(query()), Arrays.stream(theirs, 0, i)).toArray();
            float[] l = e.generate(enc, q, SamplingOptions.greedy(), 0, t -> false, t -> {}).firstLogits();
            return l[ours] - l[theirs[i]];
        }

        int[] llamaCpp() throws Exception {
            return greedyTokens(path, prompt, N);
        }
    }

    private static Path findOracleDir() {
        return RepoPaths.npmProject("oracle");
    }

    private static boolean nodeAvailable() {
        try {
            Process pr = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            pr.getInputStream().readAllBytes();
            return pr.waitFor(20, TimeUnit.SECONDS) && pr.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    /** llama.cpp's {@code steps} greedy tokens after {@code prompt} on {@code gguf} (oracle/llamacpp-greedy.mjs). */
    static int[] greedyTokens(Path gguf, int[] prompt, int steps) throws Exception {
        String ids = Arrays.stream(prompt).mapToObj(Integer::toString).collect(Collectors.joining(","));
        Path out = Files.createTempFile(dir, "llamacpp", ".json");
        Process pr = new ProcessBuilder("node", "llamacpp-greedy.mjs", gguf.toString(), ids, Integer.toString(steps))
                .directory(oracleDir.toFile())
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        if (!pr.waitFor(120, TimeUnit.SECONDS)) {
            pr.destroyForcibly();
            throw new AssertionError("llama.cpp oracle timed out");
        }
        assertEquals(0, pr.exitValue(), "llama.cpp oracle failed on " + gguf.getFileName());
        JsonNode j = OM.readTree(Files.readString(out, StandardCharsets.UTF_8));
        int[] t = new int[j.get("tokens").size()];
        for (int i = 0; i < t.length; i++) t[i] = j.get("tokens").get(i).asInt();
        assertEquals(steps, t.length);
        return t;
    }
}
