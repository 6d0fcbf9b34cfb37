package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.StandInPipelines;
import dev.starattn.model.LoadedModel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code eval --device cuda}'s runner path without a GPU: every configuration through device pipelines (CPU stand-ins that
 * answer as dense does), each sample's context opened with its configuration's mode and hosts and released after its
 * answer, the answers those of the CPU runner's dense.
 */
class EvalRunnerPipelinesTest {
    @Test
    void everyConfigurationRunsOnThePipelinesAndEachContextIsReleased() throws Exception {
        try (LoadedModel m = TinyModels.load()) {
            EvalTemplate tpl = EvalTemplate.of(m.template());
            List<EvalSample> samples = new SampleBuilder(new PromptTokens(m, tpl), 7).samples("niah_single_1", 512, 2);
            List<EvalRunner.TaskRun> runs = List.of(new EvalRunner.TaskRun("niah_single_1", 512, samples));
            RunConfig star = new RunConfig(AttentionMode.STAR, 2, "auto", "b", AnchorPositions.ORIGINAL, AnchorContent.FIRST);
            List<RunConfig> configs = List.of(RunConfig.dense(), star);

            PredictionStore cpuStore = new PredictionStore(null);
            new EvalRunner(m, tpl, List.of(RunConfig.dense()), 7, "test", cpuStore, null).run(runs);
            StandInPipelines gpus = new StandInPipelines(m.model());
            PredictionStore devStore = new PredictionStore(null);
            EvalRunner onDevice = new EvalRunner(m, tpl, configs, 7, "test|device=stand-in", devStore, null).withPipelines(gpus);
            List<EvalRunner.Result> results = onDevice.run(runs);

            assertEquals(4, gpus.opened.size(), "one pipeline per sample and configuration");
            List<String> encodes = new ArrayList<>();
            for (StandInPipelines.RecomputingPipeline p : gpus.opened) {
                encodes.add(p.calls.getFirst());
                assertEquals("close", p.calls.getLast(), "each context released after its answer: " + p.calls);
            }
            assertEquals(List.of("encode dense 1", "encode star 2", "encode dense 1", "encode star 2"), encodes);
            for (EvalSample s : samples) {
                String want = cpuStore.get(PredictionStore.key("test|" + m.fingerprint(), "niah_single_1", 512, "dense", s.index())).get("pred").asText();
                for (RunConfig c : configs) {
                    String got = devStore.get(PredictionStore.key("test|device=stand-in|" + m.fingerprint(), "niah_single_1", 512, c.key(), s.index()))
                            .get("pred").asText();
                    assertEquals(want, got, c.key() + " sample " + s.index() + ": the stand-in answers as dense does");
                }
            }
            assertEquals(2, results.size());
            for (EvalRunner.Result r : results) assertEquals(2, r.samples());
        }
    }
}
