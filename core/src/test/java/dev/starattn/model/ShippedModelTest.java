package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.testutil.RepoPaths;
import java.io.BufferedReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The model that ships with the project, against PyTorch: held-out samples (seeds never used in
 * training) were decoded greedily by the training code in PyTorch on the GPU and stored with their
 * token counts and generated ids in models/heldout.jsonl. Our engine, on the exported Q8_0 file,
 * must tokenize them to the same counts and give the same answers.
 */
class ShippedModelTest {
    @Test
    void samePromptsAndAnswersAsPyTorch() throws Exception {
        Path models = RepoPaths.root().resolve("models");
        List<JsonNode> picked = new ArrayList<>();
        Set<String> tasks = new LinkedHashSet<>();
        ObjectMapper om = new ObjectMapper();
        try (BufferedReader r = Files.newBufferedReader(models.resolve("heldout.jsonl"))) {
            for (String line; (line = r.readLine()) != null; ) {
                JsonNode s = om.readTree(line);
                // The first sample of each retrieval and tracking task at 4K: quick enough for the suite.
                String task = s.get("task").asText();
                if (s.get("length").asInt() == 4096 && (task.startsWith("niah_single") || task.equals("niah_multikey_1")
                        || task.equals("vt")) && tasks.add(task)) picked.add(s);
            }
        }
        assertTrue(picked.size() >= 5, "held-out samples of several tasks");
        try (LoadedModel m = ModelLoader.load(models.resolve("starattn-tiny-q8_0.gguf"))) {
            InferenceEngine dense = new InferenceEngine(m.model(), EngineOptions.dense());
            int same = 0, oursRightCount = 0;
            List<String> differing = new ArrayList<>();
            for (JsonNode s : picked) {
                Prompt p = Prompt.of(m, m.template(), s.get("input_context").asText(), s.get("input_query").asText());
                assertEquals(s.get("n_context_tokens").asInt() + 1, p.context().length, "context tokens (+BOS) of " + s.get("seed"));
                assertEquals(s.get("n_query_tokens").asInt(), p.query().length, "query tokens of " + s.get("seed"));
                List<Integer> ids = new ArrayList<>();
                GenerationResult g = dense.generate(dense.encode(p.context(), ProgressListener.NONE), p.query(),
                        SamplingOptions.greedy(), s.get("max_new").asInt(), t -> false, ids::add);
                String ours = m.tokenizer().decode(ids.stream().mapToInt(Integer::intValue).toArray());
                String theirs = s.get("pred").asText();
                boolean oursRight = containsAll(ours, s.get("outputs")), theirsRight = containsAll(theirs, s.get("outputs"));
                if (oursRight) oursRightCount++;
                if (oursRight == theirsRight) same++;
                else differing.add(s.get("seed").asText() + ": ours '" + ours.strip() + "' torch '" + theirs.strip() + "'");
                assertTrue(g.tokens().length > 0);
            }
            // Q8_0 weights against PyTorch's can flip a near-tie now and then; right and wrong must agree on almost all.
            assertTrue(same >= picked.size() - 1, "answers judged differently from PyTorch's on " + differing);
            // The shipped model retrieves (MODEL_CARD.md: 100 % on these tasks at 4K in PyTorch), so a
            // broken forward pass or prompt shows up here as wrong answers, not only as disagreement.
            assertTrue(oursRightCount >= picked.size() - 1, "right answers: " + oursRightCount + " of " + picked.size());
        }
    }

    static boolean containsAll(String pred, JsonNode outputs) {
        for (JsonNode o : outputs) if (!pred.toLowerCase().contains(o.asText().toLowerCase())) return false;
        return true;
    }
}
