package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The results as JSON, report.md, results.json and PNG plots ({@link EvalPlots}): every accuracy with
 * its Wilson interval, the paired comparison with dense, the real prompt lengths, block and anchor
 * sizes, and the cells below the floor flagged and left out of the averages.
 */
public final class EvalReport {
    /** What the run was, for the headers. */
    public record Meta(String model, String suite, String template, long seed, int samplesPerTask, List<String> notes,
                       List<AutoPick> autoPicks) {
        public Meta(String model, String suite, String template, long seed, int samplesPerTask, List<String> notes) {
            this(model, suite, template, seed, samplesPerTask, notes, List.of());
        }
    }

    /** What {@code --attention auto} chose for a length: the configuration run for it, and the choice with why. */
    public record AutoPick(int length, RunConfig config, dev.starattn.engine.strategy.AutoAttention.Choice choice) {}

    private final Meta meta;
    private final List<EvalRunner.Result> results;

    public EvalReport(Meta meta, List<EvalRunner.Result> results) {
        this.meta = meta;
        this.results = List.copyOf(results);
    }

    private EvalRunner.Result dense(EvalRunner.Result r) {
        for (EvalRunner.Result d : results) {
            if (!d.config().strategy().splitsContext() && d.task().equals(r.task()) && d.length() == r.length()) return d;
        }
        return null;
    }

    /** star accuracy / dense accuracy, or NaN without a dense run (or dense at 0). */
    public double relative(EvalRunner.Result r) {
        EvalRunner.Result d = dense(r);
        if (d == null || d.samples() == 0 || d.accuracy() == 0) return Double.NaN;
        return r.accuracy() / d.accuracy();
    }

    private Map<String, RunConfig> configs() {
        Map<String, RunConfig> m = new LinkedHashMap<>();
        for (EvalRunner.Result r : results) m.putIfAbsent(r.config().key(), r.config());
        return m;
    }

    /**
     * A (task, length) is below the floor when dense scores under this there: the task is beyond
     * the model at that length, so star's ratio to it is noise. Such cells are flagged and left out
     * of the averages (for every configuration). A point estimate, not the interval's upper bound:
     * with the usual 10-100 samples a 0/n cell's upper bound is 4-28 %, and a floor that high would
     * drop tasks the model does a little.
     */
    public static final double FLOOR = 0.05;

    /** Whether dense, run on the same task and length, scores below {@link #FLOOR} there. */
    public boolean belowFloor(EvalRunner.Result r) {
        EvalRunner.Result d = dense(r);
        return d != null && d.samples() > 0 && d.accuracy() < FLOOR;
    }

    /**
     * Mean over the tasks above the floor, per (length, configuration): accuracy, its Wilson interval
     * (the mean taken as one rate over all {@code samples}), and the means of block, anchor, prompt
     * tokens and critical-path FLOPs; {@code excluded} the tasks left out.
     */
    public record Average(int length, RunConfig config, double accuracy, int tasks, int empty, int samples,
                          int blockSize, int anchorSize, double tokens, double criticalFlops, List<String> excluded) {
        public EvalStats.Interval interval() {
            return EvalStats.wilson(accuracy, samples);
        }
    }

    private Set<Integer> lengths() {
        Set<Integer> lengths = new TreeSet<>();
        for (EvalRunner.Result r : results) lengths.add(r.length());
        return lengths;
    }

    public List<Average> averages() {
        List<Average> out = new ArrayList<>();
        for (int len : lengths()) {
            for (RunConfig c : configs().values()) {
                double sum = 0, tokens = 0, flops = 0;
                long block = 0, anchor = 0;
                int n = 0, empty = 0, samples = 0;
                List<String> excluded = new ArrayList<>();
                for (EvalRunner.Result r : results) {
                    if (r.length() != len || !r.config().key().equals(c.key()) || r.samples() == 0) continue;
                    if (belowFloor(r)) {
                        excluded.add(r.task());
                        continue;
                    }
                    sum += r.accuracy();
                    n++;
                    empty += r.empty();
                    samples += r.samples();
                    block += r.blockSize();
                    anchor += r.anchorSize();
                    tokens += r.tokens().mean();
                    flops += r.criticalFlops();
                }
                if (n > 0) {
                    out.add(new Average(len, c, sum / n, n, empty, samples, (int) Math.round(block / (double) n),
                            (int) Math.round(anchor / (double) n), tokens / n, flops / n, List.copyOf(excluded)));
                }
            }
        }
        return out;
    }

    /** dense's average at the same length, or null. */
    private Average denseAverage(Average a, List<Average> avs) {
        for (Average d : avs) if (d.length() == a.length() && !d.config().strategy().splitsContext()) return d;
        return null;
    }

    /** The (task, length) cells flagged below the floor: dense's results there. */
    public List<EvalRunner.Result> flagged() {
        List<EvalRunner.Result> out = new ArrayList<>();
        for (EvalRunner.Result r : results) if (!r.config().strategy().splitsContext() && belowFloor(r)) out.add(r);
        return out;
    }

    public ObjectNode toJson() {
        ObjectNode j = PredictionStore.JSON.createObjectNode();
        j.put("model", meta.model());
        j.put("suite", meta.suite());
        j.put("template", meta.template());
        j.put("seed", meta.seed());
        j.put("samples_per_task", meta.samplesPerTask());
        j.put("floor", FLOOR);
        ArrayNode arr = j.putArray("results");
        for (EvalRunner.Result r : results) {
            ObjectNode o = arr.addObject();
            o.put("task", r.task());
            o.put("length", r.length());
            o.put("attention", r.config().strategy().name());
            o.put("config", r.config().key());
            o.put("hosts", r.config().hosts());
            o.put("block_size", r.blockSize());
            o.put("anchor_size", r.anchorSize());
            o.put("block_size_spec", r.config().strategy().blockwise() ? r.config().blockSpec() : "");
            o.put("anchor_size_spec", r.config().strategy().blockwise() ? r.config().anchorSpec() : "");
            o.put("anchor_positions", r.config().positions().name().toLowerCase(Locale.ROOT));
            o.put("anchor_content", r.config().content().name().toLowerCase(Locale.ROOT));
            o.put("accuracy", r.accuracy());
            putInterval(o, r.interval());
            o.put("samples", r.samples());
            o.put("empty", r.empty());
            ObjectNode t = o.putObject("prompt_tokens");
            t.put("mean", r.tokens().mean());
            t.put("min", r.tokens().min());
            t.put("max", r.tokens().max());
            o.put("critical_path_flops", r.criticalFlops());
            o.put("below_floor", belowFloor(r));
            double rel = relative(r);
            if (!Double.isNaN(rel) && r.config().strategy().splitsContext()) o.put("relative_to_dense", rel);
            PairedComparison p = r.vsDense();
            if (p != null) {
                ObjectNode v = o.putObject("vs_dense");
                v.put("pairs", p.pairs());
                v.put("same_score", p.sameScore());
                v.put("same_answer", p.sameAnswer());
                v.put("only_dense_right", p.onlyDense());
                v.put("only_this_right", p.onlyThis());
                v.put("mcnemar_exact_p", p.pValue());
            }
        }
        ArrayNode av = j.putArray("averages");
        for (Average a : averages()) {
            ObjectNode o = av.addObject();
            o.put("length", a.length());
            o.put("config", a.config().key());
            o.put("attention", a.config().strategy().name());
            o.put("accuracy", a.accuracy());
            putInterval(o, a.interval());
            o.put("tasks", a.tasks());
            o.put("samples", a.samples());
            o.put("empty", a.empty());
            o.put("block_size", a.blockSize());
            o.put("anchor_size", a.anchorSize());
            o.put("prompt_tokens_mean", a.tokens());
            o.put("critical_path_flops", a.criticalFlops());
            ArrayNode ex = o.putArray("excluded_below_floor");
            a.excluded().forEach(ex::add);
        }
        ArrayNode auto = j.putArray("attention_auto");
        for (AutoPick p : meta.autoPicks()) {
            ObjectNode o = dev.starattn.app.cli.AttentionChoiceJson.of(p.choice());
            o.put("length", p.length());
            o.put("config", p.config().key());
            auto.add(o);
        }
        ArrayNode notes = j.putArray("notes");
        meta.notes().forEach(notes::add);
        return j;
    }

    private static void putInterval(ObjectNode o, EvalStats.Interval ci) {
        ArrayNode a = o.putArray("ci95");
        a.add(ci.lo());
        a.add(ci.hi());
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    private static String ci(EvalStats.Interval i) {
        return "[" + pct(i.lo()) + ", " + pct(i.hi()) + "]";
    }

    private static String ratio(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

    /** 4096 -> 4K, 131072 -> 128K, 1000 -> 1000. */
    public static String lengthLabel(int length) {
        return length > 0 && length % 1024 == 0 ? length / 1024 + "K" : Integer.toString(length);
    }

    /** A p-value as researchers write it: three significant digits, and "<0.001" below that. */
    static String pValue(double p) {
        if (p < 0.001) return "<0.001";
        return String.format(Locale.ROOT, p >= 0.0995 ? "%.2f" : "%.3f", p);
    }

    /** 1.23e12 -> 1.23 T; FLOPs in the units the benchmarks print. */
    static String flops(double f) {
        if (f <= 0) return "-";
        String[] units = {"", "K", "M", "G", "T", "P"};
        int u = 0;
        while (f >= 999.5 && u < units.length - 1) {  // so 999.7 G prints as 1.00 T
            f /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, "%.3g %s", f, units[u]).strip();
    }

    private static String sizes(EvalRunner.Result r) {
        return r.config().strategy().blockwise() ? r.blockSize() + " / " + r.anchorSize() : "-";
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("# starattn eval: ").append(meta.suite()).append("\n\n");
        sb.append("Model `").append(meta.model()).append("`, template `").append(meta.template()).append("`, seed ")
                .append(meta.seed()).append(", up to ").append(meta.samplesPerTask()).append(" samples per task and length. ")
                .append("Accuracy in % with its Wilson 95 % interval; *rel.* = this accuracy / dense accuracy (same task and length). ")
                .append("*agree* = samples scored alike by this configuration and dense; *dense / this* = samples only dense, ")
                .append("or only this configuration, got fully right, and *p* McNemar's exact test on them (two-sided binomial). ")
                .append("*tokens* = the prompt (context + query) each sample really had, mean (min-max); the target length also holds ")
                .append("the answer and the generation budget. *block / anchor* in tokens (means over the samples). ")
                .append(String.format(Locale.ROOT, "Cells where dense scores below %.0f %% are flagged (*floor*) and left out of the averages.\n\n", 100 * FLOOR));
        sb.append("| task | length | configuration | accuracy | 95 % CI | rel. to dense | agree | dense / this | p | tokens | block / anchor | samples | empty | flag |\n");
        sb.append("|---|---:|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|\n");
        for (EvalRunner.Result r : results) {
            double rel = !r.config().strategy().splitsContext() ? Double.NaN : relative(r);
            PairedComparison p = r.vsDense();
            TokenLengths t = r.tokens();
            sb.append("| ").append(r.task()).append(" | ").append(r.length()).append(" | ").append(r.config().key())
                    .append(" | ").append(pct(r.accuracy())).append(" | ").append(ci(r.interval()))
                    .append(" | ").append(ratio(rel))
                    .append(" | ").append(p == null ? "-" : p.sameScore() + "/" + p.pairs())
                    .append(" | ").append(p == null ? "-" : p.onlyDense() + " / " + p.onlyThis())
                    .append(" | ").append(p == null ? "-" : pValue(p.pValue()))
                    .append(" | ").append(r.samples() == 0 ? "-" : String.format(Locale.ROOT, "%.0f (%d-%d)", t.mean(), t.min(), t.max()))
                    .append(" | ").append(sizes(r))
                    .append(" | ").append(r.samples()).append(" | ").append(r.empty())
                    .append(" | ").append(belowFloor(r) ? "floor" : "").append(" |\n");
        }
        Set<String> tasks = new LinkedHashSet<>();
        for (EvalRunner.Result r : results) tasks.add(r.task());
        List<EvalRunner.Result> flagged = flagged();
        boolean fullRuler = tasks.containsAll(Tasks.RULER) && flagged.isEmpty();
        sb.append("\n## Average over tasks").append(fullRuler ? " (the 13-task RULER average)" : "").append("\n\n");
        List<Average> avs = averages();
        if (avs.isEmpty()) {
            sb.append("No task is above the floor: dense scores below ").append(pct(FLOOR)).append(" % on every one.\n");
        } else {
            sb.append("Tasks below the floor are left out; the interval takes the mean as one rate over all the samples. ")
                    .append("*FLOPs* = phase-1 FLOPs of the busiest host (the critical path), from the FLOP model, mean over the samples.\n\n");
            sb.append("| length | configuration | accuracy | 95 % CI | rel. to dense | tasks | samples | tokens (mean) | block / anchor | FLOPs | empty |\n");
            sb.append("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Average a : avs) {
                double rel = Double.NaN;
                Average d = denseAverage(a, avs);
                if (a.config().strategy().splitsContext() && d != null && d.accuracy() > 0) rel = a.accuracy() / d.accuracy();
                sb.append("| ").append(a.length()).append(" | ").append(a.config().key()).append(" | ").append(pct(a.accuracy()))
                        .append(" | ").append(ci(a.interval())).append(" | ").append(ratio(rel))
                        .append(" | ").append(a.tasks()).append(" | ").append(a.samples())
                        .append(" | ").append(String.format(Locale.ROOT, "%.0f", a.tokens()))
                        .append(" | ").append(a.config().strategy().blockwise() ? a.blockSize() + " / " + a.anchorSize() : "-")
                        .append(" | ").append(flops(a.criticalFlops()))
                        .append(" | ").append(a.empty()).append(" |\n");
            }
        }
        if (!flagged.isEmpty()) {
            sb.append("\n## Below the floor (left out of the averages)\n\n");
            for (EvalRunner.Result d : flagged) {
                sb.append("- ").append(d.task()).append(" @").append(lengthLabel(d.length())).append(": dense ")
                        .append(pct(d.accuracy())).append(" % ").append(ci(d.interval())).append(", n = ").append(d.samples()).append('\n');
            }
        }
        if (!meta.autoPicks().isEmpty()) {
            sb.append("\n## --attention auto\n\n");
            for (AutoPick p : meta.autoPicks()) {
                sb.append("- ").append(lengthLabel(p.length())).append(": `").append(p.config().key()).append("`: ")
                        .append(p.choice().why()).append('\n');
            }
        }
        sb.append("\n## Notes\n\n");
        sb.append("- The essay haystack (niah_single_2/3, niah_multikey_1, niah_multivalue, niah_multiquery) and the BABILong filler "
                + "are generated prose from our grammar, a self-contained substitute for the Paul Graham essays and PG19.\n");
        sb.append("- qa_1 and qa_2 are self-contained substitutes for SQuAD and HotpotQA (generated documents about made-up entities "
                + "with same-topic distractors); their difficulty differs from the originals'. BABILong stories are generated bAbI-style worlds.\n");
        sb.append("- Tasks with several references (niah_multivalue, niah_multiquery, vt, cwe, fwe) score partial credit: their interval "
                + "treats the mean as a rate (wider than the truth), and the paired test counts a sample as right only with full credit.\n");
        for (String n : meta.notes()) sb.append("- ").append(n).append('\n');
        return sb.toString();
    }

    /** report.md, results.json and the plots into dir; returns the plot files written. */
    public List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("report.md"), markdown(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("results.json"),
                PredictionStore.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n", StandardCharsets.UTF_8);
        try {
            return new EvalPlots(meta.suite(), results, averages()).write(dir);
        } catch (RuntimeException | Error e) {
            // plots are a convenience: a machine without fonts for AWT still gets the tables
            Files.writeString(dir.resolve("plots-skipped.txt"), "plots could not be drawn: " + e + "\n", StandardCharsets.UTF_8);
            return List.of();
        }
    }
}
