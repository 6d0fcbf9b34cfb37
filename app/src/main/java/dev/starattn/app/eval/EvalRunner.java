package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.ContextPipeline;
import dev.starattn.app.hosts.HostFactory;
import dev.starattn.engine.EncodedContext;
import dev.starattn.attention.KvType;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import dev.starattn.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs samples under each configuration: per sample and configuration the context is encoded
 * once (phase 1) and the query answered greedily with exactly the task's budget G (phase 2), cut
 * at the first stop, stripped and scored. Predictions go to the {@link PredictionStore} as they are
 * scored; those already there are skipped.
 */
public final class EvalRunner {
    /** The samples of one (task, length). */
    public record TaskRun(String task, int length, List<EvalSample> samples) {}

    /**
     * The score of one (task, length, configuration). Block and anchor sizes are means over the
     * samples, {@code tokens} the prompt lengths (context + query) the samples really had,
     * {@code criticalFlops} the mean phase-1 FLOPs of the busiest host (FlopModel), and
     * {@code vsDense} the per-sample comparison with dense (null for dense, or without a dense run).
     */
    public record Result(String task, int length, RunConfig config, double accuracy, int samples, int empty,
                         int blockSize, int anchorSize, TokenLengths tokens, double criticalFlops, PairedComparison vsDense) {
        /** The Wilson 95 % interval of the accuracy. */
        public EvalStats.Interval interval() {
            return EvalStats.wilson(accuracy, samples);
        }
    }

    private final LoadedModel model;
    private final PromptTokens tokens;
    private final List<RunConfig> configs;
    private final long seed;
    private final String source;
    private final PredictionStore store;
    private final PrintStream progress;
    private KvType kvType = KvType.F32;
    private ContextPipeline.Factory pipelines;
    private HostFactory hosts;
    private int scoredNow, resumed;

    /**
     * @param source   what makes the samples (generator seed and template, or the data file), part of the resume key
     * @param progress where the progress line goes, or null
     */
    public EvalRunner(LoadedModel model, EvalTemplate template, List<RunConfig> configs, long seed, String source,
                      PredictionStore store, PrintStream progress) {
        this.model = model;
        this.tokens = new PromptTokens(model, template);
        this.configs = List.copyOf(configs);
        this.seed = seed;
        this.source = source + "|" + model.fingerprint();
        this.store = store;
        this.progress = progress;
    }

    public int scoredNow() {
        return scoredNow;
    }

    public int resumed() {
        return resumed;
    }

    /** Runs every configuration on the hosts of {@code factory} (the GPUs, ...), or on this JVM's CPU when null (the default). */
    public EvalRunner withHosts(HostFactory factory) {
        this.hosts = factory;
        return this;
    }

    /** Runs every configuration on {@code factory}'s pipelines (the GPUs), or on this JVM's CPU when null (the default). */
    public EvalRunner withPipelines(ContextPipeline.Factory factory) {
        this.pipelines = factory;
        return this;
    }

    /** Runs every configuration with this KV cache type (f32 by default). */
    public EvalRunner withKvType(KvType t) {
        this.kvType = t;
        return this;
    }

    public List<Result> run(List<TaskRun> runs) {
        int total = 0;
        for (TaskRun r : runs) total += r.samples().size() * configs.size();
        long t0 = System.nanoTime();
        int done = 0;
        Tokenizer tok = model.tokenizer();
        for (TaskRun run : runs) {
            int g = Tasks.generationBudget(run.task());
            Metric metric = Tasks.metric(run.task());
            List<String> labels = Tasks.labels(run.task());
            for (EvalSample s : run.samples()) {
                Prompt p = null;
                for (RunConfig c : configs) {
                    String key = PredictionStore.key(source, run.task(), run.length(), c.key(), s.index());
                    done++;
                    if (store.get(key) != null) {
                        resumed++;
                        continue;
                    }
                    if (p == null) p = tokens.prompt(s.inputContext(), s.inputQuery());
                    int n = p.context().length;
                    EngineOptions o = c.options(n, seed).withKvTypes(kvType, kvType);
                    InferenceEngine e = hosts != null ? hosts.engine(o) : new InferenceEngine(model.model(), o);
                    if (pipelines != null) e = e.withPipelines(pipelines);
                    EncodedContext enc = e.encode(p.context(), ProgressListener.NONE);
                    List<Integer> ids = new ArrayList<>();
                    try {
                        e.generate(enc, p.query(), SamplingOptions.greedy(), g, tok::isEndOfGeneration, ids::add);
                    } finally {
                        enc.release();  // a GPU pipeline's KV is freed now, not left for the next sample's
                    }
                    String raw = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
                    String pred = tokens.template().cut(raw);
                    double score = metric.score(pred, s.outputs(), s.inputQuery(), labels);
                    ObjectNode rec = PredictionStore.JSON.createObjectNode();
                    rec.put("task", run.task());
                    rec.put("length", run.length());
                    rec.put("config", c.key());
                    rec.put("attention", c.strategy().name());
                    rec.put("index", s.index());
                    rec.put("pred", pred);
                    rec.putArray("outputs").addAll(s.outputs().stream().map(PredictionStore.JSON.getNodeFactory()::textNode).toList());
                    rec.put("score", score);
                    rec.put("empty", pred.isEmpty());
                    rec.put("context_tokens", n);
                    rec.put("query_tokens", p.query().length);
                    rec.put("generated_tokens", ids.size());
                    rec.put("block_size", c.isStar() ? c.blockSize(n) : 0);
                    rec.put("anchor_size", c.isStar() ? c.anchorSize(n, c.blockSize(n)) : 0);
                    store.put(key, rec);
                    scoredNow++;
                    progressLine(done, total, t0, run, c);
                }
            }
        }
        if (progress != null && scoredNow > 0) progress.println();
        return results(runs);
    }

    private void progressLine(int done, int total, long t0, TaskRun run, RunConfig c) {
        if (progress == null) return;
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double eta = scoredNow == 0 ? 0 : elapsed / scoredNow * (total - done);
        progress.printf("\r[eval] %d/%d%s  %s @%d  %-28s  elapsed %s  ETA %s   ", done, total,
                resumed > 0 ? " (" + resumed + " resumed)" : "", run.task(), run.length(), c.key(), clock(elapsed), clock(eta));
        progress.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format("%d:%02d", s / 60, s % 60);
    }

    /** Scores from the store (this run's and resumed ones) for every (task, length, configuration). */
    public List<Result> results(List<TaskRun> runs) {
        return new ResultCollector(store, source, model.config(), seed).collect(runs, configs);
    }
}
