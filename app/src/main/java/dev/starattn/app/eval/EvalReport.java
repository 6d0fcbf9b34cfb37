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
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The results as JSON, report.md, results.json and PNG plots. */
public final class EvalReport {
    /** What the run was, for the headers. */
    public record Meta(String model, String suite, String template, long seed, int samplesPerTask, List<String> notes) {}

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

    private List<String> configKeys() {
        Set<String> s = new LinkedHashSet<>();
        for (EvalRunner.Result r : results) s.add(r.config().key());
        return new ArrayList<>(s);
    }

    private Map<String, RunConfig> configs() {
        Map<String, RunConfig> m = new LinkedHashMap<>();
        for (EvalRunner.Result r : results) m.putIfAbsent(r.config().key(), r.config());
        return m;
    }

    /** Mean accuracy over the tasks run, per (length, configuration). */
    public record Average(int length, RunConfig config, double accuracy, int tasks, int empty) {}

    public List<Average> averages() {
        List<Average> out = new ArrayList<>();
        Set<Integer> lengths = new TreeSet<>();
        for (EvalRunner.Result r : results) lengths.add(r.length());
        for (int len : lengths) {
            for (RunConfig c : configs().values()) {
                double sum = 0;
                int n = 0, empty = 0;
                for (EvalRunner.Result r : results) {
                    if (r.length() == len && r.config().key().equals(c.key()) && r.samples() > 0) {
                        sum += r.accuracy();
                        n++;
                        empty += r.empty();
                    }
                }
                if (n > 0) out.add(new Average(len, c, sum / n, n, empty));
            }
        }
        return out;
    }

    public ObjectNode toJson() {
        ObjectNode j = PredictionStore.JSON.createObjectNode();
        j.put("model", meta.model());
        j.put("suite", meta.suite());
        j.put("template", meta.template());
        j.put("seed", meta.seed());
        j.put("samples_per_task", meta.samplesPerTask());
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
            o.put("samples", r.samples());
            o.put("empty", r.empty());
            double rel = relative(r);
            if (!Double.isNaN(rel) && r.config().strategy().splitsContext()) o.put("relative_to_dense", rel);
        }
        ArrayNode av = j.putArray("averages");
        for (Average a : averages()) {
            ObjectNode o = av.addObject();
            o.put("length", a.length());
            o.put("config", a.config().key());
            o.put("attention", a.config().strategy().name());
            o.put("accuracy", a.accuracy());
            o.put("tasks", a.tasks());
            o.put("empty", a.empty());
        }
        ArrayNode notes = j.putArray("notes");
        meta.notes().forEach(notes::add);
        return j;
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", 100 * v);
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("# starattn eval: ").append(meta.suite()).append("\n\n");
        sb.append("Model `").append(meta.model()).append("`, template `").append(meta.template()).append("`, seed ")
                .append(meta.seed()).append(", up to ").append(meta.samplesPerTask()).append(" samples per task and length. ")
                .append("Accuracy in %; *rel.* = star accuracy / dense accuracy (same task and length).\n\n");
        sb.append("| task | length | configuration | accuracy | rel. to dense | samples | empty |\n");
        sb.append("|---|---:|---|---:|---:|---:|---:|\n");
        for (EvalRunner.Result r : results) {
            double rel = !r.config().strategy().splitsContext() ? Double.NaN : relative(r);
            sb.append("| ").append(r.task()).append(" | ").append(r.length()).append(" | ").append(r.config().key())
                    .append(" | ").append(pct(r.accuracy())).append(" | ")
                    .append(Double.isNaN(rel) ? "-" : String.format(Locale.ROOT, "%.3f", rel))
                    .append(" | ").append(r.samples()).append(" | ").append(r.empty()).append(" |\n");
        }
        Set<String> tasks = new LinkedHashSet<>();
        for (EvalRunner.Result r : results) tasks.add(r.task());
        boolean fullRuler = tasks.containsAll(Tasks.RULER);
        sb.append("\n## Average over tasks").append(fullRuler ? " (the 13-task RULER average)" : "").append("\n\n");
        sb.append("| length | configuration | accuracy | rel. to dense | tasks | empty |\n|---:|---|---:|---:|---:|---:|\n");
        List<Average> avs = averages();
        for (Average a : avs) {
            double rel = Double.NaN;
            if (a.config().strategy().splitsContext()) {
                for (Average d : avs) {
                    if (d.length() == a.length() && !d.config().strategy().splitsContext() && d.accuracy() > 0) rel = a.accuracy() / d.accuracy();
                }
            }
            sb.append("| ").append(a.length()).append(" | ").append(a.config().key()).append(" | ").append(pct(a.accuracy()))
                    .append(" | ").append(Double.isNaN(rel) ? "-" : String.format(Locale.ROOT, "%.3f", rel))
                    .append(" | ").append(a.tasks()).append(" | ").append(a.empty()).append(" |\n");
        }
        sb.append("\n## Notes\n\n");
        sb.append("- The essay haystack (niah_single_2/3, niah_multikey_1, niah_multivalue, niah_multiquery) and the BABILong filler "
                + "are generated prose from our grammar, a self-contained substitute for the Paul Graham essays and PG19.\n");
        sb.append("- qa_1 and qa_2 are self-contained substitutes for SQuAD and HotpotQA (generated documents about made-up entities "
                + "with same-topic distractors); their difficulty differs from the originals'. BABILong stories are generated bAbI-style worlds.\n");
        for (String n : meta.notes()) sb.append("- ").append(n).append('\n');
        return sb.toString();
    }

    /** report.md, results.json and the plots into dir; returns the plot files written. */
    public List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("report.md"), markdown(), StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("results.json"),
                PredictionStore.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n", StandardCharsets.UTF_8);
        List<Path> plots = new ArrayList<>();
        System.setProperty("java.awt.headless", "true");
        try {
            XYSeriesCollection byLength = new XYSeriesCollection();
            for (RunConfig c : configs().values()) {
                XYSeries s = new XYSeries(c.key());
                for (Average a : averages()) if (a.config().key().equals(c.key())) s.add(a.length(), 100 * a.accuracy());
                byLength.addSeries(s);
            }
            JFreeChart chart = ChartFactory.createXYLineChart("Accuracy vs length (" + meta.suite() + ", mean over tasks)",
                    "context length (tokens)", "accuracy (%)", byLength, PlotOrientation.VERTICAL, true, false, false);
            chart.getXYPlot().getRangeAxis().setRange(0, 100);
            Path p = dir.resolve("accuracy_vs_length.png");
            ChartUtils.saveChartAsPNG(p.toFile(), chart, 900, 560);
            plots.add(p);
            // accuracy vs block size: star configurations that differ only in their block size
            Map<String, List<RunConfig>> groups = new LinkedHashMap<>();
            for (RunConfig c : configs().values()) {
                if (c.isStar()) groups.computeIfAbsent(c.withBlock("auto").key(), k -> new ArrayList<>()).add(c);
            }
            XYSeriesCollection byBlock = new XYSeriesCollection();
            for (List<RunConfig> g : groups.values()) {
                if (g.size() < 2) continue;
                Set<Integer> lengths = new TreeSet<>();
                for (EvalRunner.Result r : results) lengths.add(r.length());
                for (int len : lengths) {
                    XYSeries s = new XYSeries(len + " tokens" + (groups.size() > 1 ? " " + g.get(0).withBlock("auto").key().replace("b=auto", "b=*") : ""));
                    for (RunConfig c : g) {
                        double sum = 0, block = 0;
                        int n = 0;
                        for (EvalRunner.Result r : results) {
                            if (r.length() == len && r.config().key().equals(c.key()) && r.samples() > 0) {
                                sum += r.accuracy();
                                block += r.blockSize();
                                n++;
                            }
                        }
                        if (n > 0) s.add(block / n, 100 * sum / n);
                    }
                    if (s.getItemCount() > 1) byBlock.addSeries(s);
                }
            }
            if (byBlock.getSeriesCount() > 0) {
                JFreeChart bc = ChartFactory.createXYLineChart("Star accuracy vs block size (" + meta.suite() + ", mean over tasks)",
                        "block size (tokens)", "accuracy (%)", byBlock, PlotOrientation.VERTICAL, true, false, false);
                bc.getXYPlot().getRangeAxis().setRange(0, 100);
                Path q = dir.resolve("accuracy_vs_block_size.png");
                ChartUtils.saveChartAsPNG(q.toFile(), bc, 900, 560);
                plots.add(q);
            }
        } catch (RuntimeException | Error e) {
            // plots are a convenience: a machine without fonts for AWT still gets the tables
            Files.writeString(dir.resolve("plots-skipped.txt"), "plots could not be drawn: " + e + "\n", StandardCharsets.UTF_8);
        }
        return plots;
    }
}
