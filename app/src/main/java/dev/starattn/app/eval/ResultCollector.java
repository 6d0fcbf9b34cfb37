package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.engine.FlopModel;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns the stored predictions of each (task, length, configuration) into an {@link EvalRunner.Result}:
 * the mean score, the real prompt lengths, the mean block and anchor sizes, the phase-1
 * critical-path FLOPs the {@link FlopModel} predicts for each sample's context (the busiest host's),
 * and, for every configuration that splits the context, the per-sample comparison with dense.
 */
final class ResultCollector {
    private final PredictionStore store;
    private final String source;
    private final DecoderConfig modelShape;
    private final long seed;

    ResultCollector(PredictionStore store, String source, DecoderConfig modelShape, long seed) {
        this.store = store;
        this.source = source;
        this.modelShape = modelShape;
        this.seed = seed;
    }

    List<EvalRunner.Result> collect(List<EvalRunner.TaskRun> runs, List<RunConfig> configs) {
        RunConfig dense = null;
        for (RunConfig c : configs) if (!c.strategy().splitsContext()) { dense = c; break; }
        List<EvalRunner.Result> out = new ArrayList<>();
        for (EvalRunner.TaskRun run : runs) {
            Map<Integer, JsonNode> denseRecords = dense == null ? Map.of() : records(run, dense);
            for (RunConfig c : configs) {
                Map<Integer, JsonNode> mine = records(run, c);
                PairedComparison paired = dense == null || !c.strategy().splitsContext() ? null : pair(denseRecords, mine);
                out.add(result(run, c, mine, paired));
            }
        }
        return out;
    }

    private Map<Integer, JsonNode> records(EvalRunner.TaskRun run, RunConfig c) {
        Map<Integer, JsonNode> m = new HashMap<>();
        for (EvalSample s : run.samples()) {
            JsonNode r = store.get(PredictionStore.key(source, run.task(), run.length(), c.key(), s.index()));
            if (r != null) m.put(s.index(), r);
        }
        return m;
    }

    private EvalRunner.Result result(EvalRunner.TaskRun run, RunConfig c, Map<Integer, JsonNode> records, PairedComparison paired) {
        double sum = 0, flops = 0;
        long block = 0, anchor = 0;
        int n = 0, empty = 0;
        int[] lengths = new int[records.size()];
        for (EvalSample s : run.samples()) {
            JsonNode r = records.get(s.index());
            if (r == null) continue;
            sum += r.get("score").asDouble();
            if (r.get("empty").asBoolean()) empty++;
            block += r.path("block_size").asLong();
            anchor += r.path("anchor_size").asLong();
            int ctx = r.path("context_tokens").asInt();
            lengths[n] = ctx + r.path("query_tokens").asInt();
            flops += criticalPathFlops(c, ctx);
            n++;
        }
        return new EvalRunner.Result(run.task(), run.length(), c, n == 0 ? 0 : sum / n, n, empty,
                n == 0 ? 0 : (int) Math.round(block / (double) n), n == 0 ? 0 : (int) Math.round(anchor / (double) n),
                TokenLengths.of(lengths), n == 0 ? 0 : flops / n, paired);
    }

    /** The busiest host's predicted phase-1 FLOPs: what a cluster of such hosts waits for. */
    private double criticalPathFlops(RunConfig c, int contextTokens) {
        if (modelShape == null || contextTokens <= 0) return 0;
        return FlopModel.max(FlopModel.phase1PerHost(modelShape, contextTokens, c.options(contextTokens, seed)));
    }

    static PairedComparison pair(Map<Integer, JsonNode> dense, Map<Integer, JsonNode> mine) {
        int pairs = 0, sameScore = 0, sameAnswer = 0, onlyDense = 0, onlyThis = 0;
        for (Map.Entry<Integer, JsonNode> e : mine.entrySet()) {
            JsonNode d = dense.get(e.getKey());
            if (d == null) continue;
            pairs++;
            double ds = d.get("score").asDouble(), ms = e.getValue().get("score").asDouble();
            if (ds == ms) sameScore++;
            if (d.path("pred").asText().equals(e.getValue().path("pred").asText())) sameAnswer++;
            boolean dr = PairedComparison.right(ds), mr = PairedComparison.right(ms);
            if (dr && !mr) onlyDense++;
            if (mr && !dr) onlyThis++;
        }
        return new PairedComparison(pairs, sameScore, sameAnswer, onlyDense, onlyThis);
    }
}
