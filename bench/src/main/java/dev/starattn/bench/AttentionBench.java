package dev.starattn.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Dense vs ring vs star on one model, in one run: phase-1 wall time, the per-host critical path
 * (the slowest host's own compute: what a cluster of H machines waits for), phase-2 time to first
 * token and decode speed, with the measured FLOPs of the critical host beside the FLOP model's
 * prediction, and star/ring and star/dense ratios of the critical path.
 */
@Command(name = "attention", mixinStandardHelpOptions = true, description = "Dense vs ring vs star, phase 1 and phase 2.")
public final class AttentionBench implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "Model file (default: a random model, see --random).")
    Path model;

    @Option(names = "--random", defaultValue = "125m", description = "Random model shape when no -m: 125m or tiny.")
    String random;

    @Option(names = "--weights", defaultValue = "q8_0", description = "Weight type of the random model.")
    String weights;

    @Option(names = "--attention", split = ",", defaultValue = "dense,ring,ring-zigzag,star", description = "Modes to compare.")
    List<String> modes;

    @Option(names = "--context", split = ",", defaultValue = "4k", description = "Context lengths, e.g. 4k,8k,16k.")
    List<String> contexts;

    @Option(names = "--hosts", split = ",", defaultValue = "4", description = "Host counts, e.g. 1,2,4,8.")
    List<Integer> hosts;

    @Option(names = "--block-size", defaultValue = "0", description = "Star block size; 0 = context / hosts.")
    int blockSize;

    @Option(names = "--anchor-size", defaultValue = "-1", description = "Star anchor size; -1 = block size.")
    int anchorSize;

    @Option(names = "--query", defaultValue = "16", description = "Query tokens in phase 2.")
    int query;

    @Option(names = "--decode", defaultValue = "8", description = "Tokens decoded in phase 2.")
    int decode;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed repeats (median reported).")
    int repeats;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed warm-up runs before the first configuration.")
    int warmup;

    @Option(names = "--json", description = "Write all rows as JSON to this file.")
    Path json;

    @Option(names = "--plot", description = "Write a PNG of star's critical-path speedup against context length, per host count and baseline.")
    Path plot;

    @Option(names = "--from-json", split = ",", paramLabel = "FILE",
            description = "Measure nothing: read the rows of earlier --json files (runs of different lengths or host counts),"
                    + " print their table and write --plot / --json over all of them.")
    List<Path> fromJson;

    record Row(int n, int h, String mode, double wallMs, double critMs, double ttftMs, double decodeTps,
               double critGflopMeasured, double critGflopPredicted, double totalGflopMeasured, long bytesMoved) {}

    @Override
    public Integer call() throws Exception {
        if (fromJson != null && !fromJson.isEmpty()) return fromEarlierRuns();
        // Every combination is checked before the model loads: a bad one would otherwise fail mid-run.
        for (String ctxSpec : contexts) {
            int n = dev.starattn.cli.UsageException.check(() -> Stats.parseSize(ctxSpec));
            for (int h : hosts) {
                for (String modeName : modes) {
                    dev.starattn.cli.UsageException.check(() -> EngineOptions.of(Strategies.byName(modeName), h)
                            .withBlockSize(blockSize).withAnchorSize(anchorSize).requireSplit(n));
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        try (LoadedModel m = BenchModels.load(model, random, weights)) {
            System.out.printf("model %s (%s), %d threads%n", m.path().getFileName(), m.config(), dev.starattn.cpu.Parallel.threads());
            boolean warmed = false;
            for (String ctxSpec : contexts) {
                int n = Stats.parseSize(ctxSpec);
                int[] tokens = new Random(n).ints(n + query, 3, m.config().vocabSize()).toArray();
                int[] ctx = java.util.Arrays.copyOf(tokens, n);
                int[] q = java.util.Arrays.copyOfRange(tokens, n, n + query);
                for (int h : hosts) {
                    for (String modeName : modes) {
                        AttentionStrategy mode = Strategies.byName(modeName);
                        if (!mode.splitsContext() && h != hosts.getFirst()) continue; // dense does not depend on H
                        EngineOptions o = EngineOptions.of(mode, h).withBlockSize(blockSize).withAnchorSize(anchorSize);
                        InferenceEngine e = new InferenceEngine(m.model(), o);
                        if (!warmed) {
                            for (int w = 0; w < warmup; w++) e.encode(java.util.Arrays.copyOf(ctx, Math.min(n, 2048)), ProgressListener.NONE);
                            warmed = true;
                        }
                        double[] wall = new double[repeats], crit = new double[repeats], ttft = new double[repeats], tps = new double[repeats];
                        double critFlops = 0, totalFlops = 0;
                        long bytes = 0;
                        for (int r = 0; r < repeats; r++) {
                            EncodedContext enc = e.encode(ctx, ProgressListener.NONE);
                            GenerationResult g = e.generate(enc, q, SamplingOptions.greedy(), decode, t -> false, t -> {});
                            wall[r] = enc.phase1Nanos() / 1e6;
                            crit[r] = enc.phase1CriticalPathNanos() / 1e6;
                            ttft[r] = g.ttftNanos() / 1e6;
                            tps[r] = g.decodeTokensPerSecond();
                            long cf = 0, tf = 0, by = 0;
                            for (HostStats s : g.hosts()) {
                                cf = Math.max(cf, s.phase1Flops());
                                tf += s.phase1Flops();
                                by += s.phase1BytesSent;
                            }
                            critFlops = cf / 1e9;
                            totalFlops = tf / 1e9;
                            bytes = by;
                        }
                        double predicted = FlopModel.max(FlopModel.phase1PerHost(m.config(), n, o)) / 1e9;
                        Row row = new Row(n, mode.hosts(h), mode.name(), Stats.median(wall), Stats.median(crit),
                                Stats.median(ttft), Stats.median(tps), critFlops, predicted, totalFlops, bytes);
                        rows.add(row);
                        System.err.printf("  N=%d H=%d %-11s phase1 wall %.0f ms, critical %.0f ms, ttft %.0f ms%n",
                                n, row.h(), row.mode(), row.wallMs(), row.critMs(), row.ttftMs());
                    }
                }
            }
            print(rows);
            if (json != null) writeJson(rows, m);
            if (plot != null) plot(rows, plot);
        }
        return 0;
    }

    /** --from-json: the rows of earlier runs, in file order, one table and one plot over all of them. */
    private int fromEarlierRuns() throws java.io.IOException {
        ObjectMapper om = new ObjectMapper();
        List<Row> rows = new ArrayList<>();
        ArrayNode all = om.createArrayNode();
        for (Path f : fromJson) {
            if (!Files.isRegularFile(f)) throw new IllegalArgumentException("--from-json: no such file " + f);
            com.fasterxml.jackson.databind.JsonNode j = om.readTree(f.toFile()).get("rows");
            if (j == null || !j.isArray()) throw new IllegalArgumentException("--from-json: " + f + " has no \"rows\" array (not a bench attention --json file)");
            for (com.fasterxml.jackson.databind.JsonNode r : j) {
                rows.add(om.treeToValue(r, Row.class));
                all.add(r);
            }
        }
        print(rows);
        if (json != null) {
            ObjectNode j = om.createObjectNode();
            ArrayNode files = j.putArray("from");
            fromJson.forEach(f -> files.add(f.toString()));
            j.set("rows", all);
            Files.writeString(json, om.writerWithDefaultPrettyPrinter().writeValueAsString(j));
        }
        if (plot != null) plot(rows, plot);
        return 0;
    }

    private static void print(List<Row> rows) {
        Map<String, Row> byKey = new HashMap<>();
        for (Row r : rows) byKey.put(r.n() + "/" + r.h() + "/" + r.mode(), r);
        System.out.println();
        System.out.println("| N | H | mode | phase-1 wall ms | critical path ms | crit GFLOP measured | crit GFLOP model | star speedup vs this (measured) | (model) | TTFT ms | decode tok/s |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            Row star = byKey.get(r.n() + "/" + r.h() + "/star");
            String sp = "", spm = "";
            if (star != null && !r.mode().equals("star")) {
                sp = String.format("%.2fx", r.critMs() / star.critMs());
                spm = String.format("%.2fx", r.critGflopPredicted() / star.critGflopPredicted());
            }
            System.out.printf("| %d | %d | %s | %.0f | %.0f | %.1f | %.1f | %s | %s | %.0f | %.1f |%n", r.n(), r.h(), r.mode(), r.wallMs(),
                    r.critMs(), r.critGflopMeasured(), r.critGflopPredicted(), sp, spm, r.ttftMs(), r.decodeTps());
        }
    }

    /** Speedup of star's critical path over each baseline, measured (solid) and FLOP-model bound (dashed). */
    static void plot(List<Row> rows, Path file) throws java.io.IOException {
        System.setProperty("java.awt.headless", "true");
        Map<String, Row> star = new HashMap<>();
        for (Row r : rows) if (r.mode().equals("star")) star.put(r.n() + "/" + r.h(), r);
        org.jfree.data.xy.XYSeriesCollection data = new org.jfree.data.xy.XYSeriesCollection();
        Map<String, org.jfree.data.xy.XYSeries> series = new java.util.LinkedHashMap<>();
        for (Row r : rows) {
            if (r.mode().equals("star")) continue;
            for (Map.Entry<String, Row> e : star.entrySet()) {
                Row st = e.getValue();
                if (st.n() != r.n() || (!r.mode().equals("dense") && st.h() != r.h())) continue;
                String name = "star vs " + r.mode() + ", H=" + st.h();
                series.computeIfAbsent(name, org.jfree.data.xy.XYSeries::new).add(r.n(), r.critMs() / st.critMs());
                series.computeIfAbsent(name + " (FLOP model)", org.jfree.data.xy.XYSeries::new)
                        .add(r.n(), r.critGflopPredicted() / st.critGflopPredicted());
            }
        }
        series.values().forEach(data::addSeries);
        org.jfree.chart.JFreeChart chart = org.jfree.chart.ChartFactory.createXYLineChart(
                "Star attention phase-1 speedup (critical path)", "context length (tokens)", "speedup (x)", data,
                org.jfree.chart.plot.PlotOrientation.VERTICAL, true, false, false);
        org.jfree.chart.renderer.xy.XYLineAndShapeRenderer rend = new org.jfree.chart.renderer.xy.XYLineAndShapeRenderer(true, true);
        java.awt.BasicStroke dashed = new java.awt.BasicStroke(1.5f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER,
                10f, new float[] {6f, 4f}, 0f);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            if (data.getSeriesKey(i).toString().endsWith("(FLOP model)")) {
                rend.setSeriesStroke(i, dashed);
                rend.setSeriesPaint(i, rend.lookupSeriesPaint(i - 1));
            }
        }
        chart.getXYPlot().setRenderer(rend);
        org.jfree.chart.ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 620);
        System.err.println("plot written to " + file);
    }

    private void writeJson(List<Row> rows, LoadedModel m) throws java.io.IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.put("model", m.path().toString());
        j.put("config", m.config().toString());
        j.put("threads", dev.starattn.cpu.Parallel.threads());
        j.put("repeats", repeats);
        ArrayNode a = j.putArray("rows");
        for (Row r : rows) a.add(om.valueToTree(r));
        Files.writeString(json, om.writerWithDefaultPrettyPrinter().writeValueAsString(j));
    }
}
