package dev.starattn.app.eval;

import java.awt.BasicStroke;
import java.awt.Color;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

/**
 * The PNG plots of a report. Every point is drawn as a marker with its Wilson 95 % interval as an
 * error bar, so a run of one length still shows its points: accuracy against length (one tick per
 * length run, labelled "4K"), accuracy against the phase-1 critical-path FLOPs of each configuration
 * (one point per length), and, when star ran with several block sizes, accuracy against block size.
 */
final class EvalPlots {
    private static final int WIDTH = 900, HEIGHT = 560;
    private final String suite;
    private final List<EvalRunner.Result> results;
    private final List<EvalReport.Average> averages;

    EvalPlots(String suite, List<EvalRunner.Result> results, List<EvalReport.Average> averages) {
        this.suite = suite;
        this.results = results;
        this.averages = averages;
    }

    List<Path> write(Path dir) throws IOException {
        System.setProperty("java.awt.headless", "true");
        List<Path> plots = new ArrayList<>();
        plots.add(save(dir.resolve("accuracy_vs_length.png"), accuracyVsLength()));
        plots.add(save(dir.resolve("accuracy_vs_flops.png"), accuracyVsFlops()));
        JFreeChart byBlock = accuracyVsBlockSize();
        if (byBlock != null) plots.add(save(dir.resolve("accuracy_vs_block_size.png"), byBlock));
        return plots;
    }

    private static Path save(Path p, JFreeChart chart) throws IOException {
        ChartUtils.saveChartAsPNG(p.toFile(), chart, WIDTH, HEIGHT);
        return p;
    }

    private Map<String, List<EvalReport.Average>> byConfig() {
        Map<String, List<EvalReport.Average>> m = new LinkedHashMap<>();
        for (EvalReport.Average a : averages) m.computeIfAbsent(a.config().key(), k -> new ArrayList<>()).add(a);
        return m;
    }

    private static void add(YIntervalSeries s, double x, double accuracy, EvalStats.Interval ci) {
        s.add(x, 100 * accuracy, 100 * ci.lo(), 100 * ci.hi());
    }

    /** Lengths on evenly spaced ticks ("4K", "8K", ...), each configuration nudged sideways so error bars do not overlap. */
    private JFreeChart accuracyVsLength() {
        List<Integer> lengths = new ArrayList<>(new TreeSet<>(averages.stream().map(EvalReport.Average::length).toList()));
        String[] ticks = lengths.stream().map(EvalReport::lengthLabel).toArray(String[]::new);
        Map<String, List<EvalReport.Average>> groups = byConfig();
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        int i = 0;
        for (Map.Entry<String, List<EvalReport.Average>> g : groups.entrySet()) {
            double nudge = groups.size() < 2 ? 0 : 0.2 * (i++ / (groups.size() - 1.0) - 0.5);
            YIntervalSeries s = new YIntervalSeries(g.getKey());
            for (EvalReport.Average a : g.getValue()) add(s, lengths.indexOf(a.length()) + nudge, a.accuracy(), a.interval());
            data.addSeries(s);
        }
        SymbolAxis x = new SymbolAxis("context length (tokens)", ticks.length == 0 ? new String[] {"-"} : ticks);
        x.setGridBandsVisible(false);
        x.setRange(-0.5, Math.max(1, ticks.length) - 0.5);
        return chart("Accuracy vs length (" + suite + ", mean over tasks above the floor, 95 % Wilson)", x, data);
    }

    /** The critical path on a log scale: a point per (configuration, length). */
    private JFreeChart accuracyVsFlops() {
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        double lo = Double.MAX_VALUE, hi = 0;
        for (Map.Entry<String, List<EvalReport.Average>> g : byConfig().entrySet()) {
            YIntervalSeries s = new YIntervalSeries(g.getKey());
            for (EvalReport.Average a : g.getValue()) {
                if (a.criticalFlops() <= 0) continue;
                add(s, a.criticalFlops(), a.accuracy(), a.interval());
                lo = Math.min(lo, a.criticalFlops());
                hi = Math.max(hi, a.criticalFlops());
            }
            data.addSeries(s);
        }
        LogAxis x = new LogAxis("phase-1 critical-path FLOPs (busiest host, FLOP model)");
        x.setSmallestValue(1);
        x.setNumberFormatOverride(new FlopFormat());
        if (hi > 0) x.setRange(lo / 2, hi * 2);
        else x.setRange(1, 10);
        return chart("Accuracy vs phase-1 critical-path FLOPs (" + suite + ", one point per length)", x, data);
    }

    private static JFreeChart chart(String title, ValueAxis x, YIntervalSeriesCollection data) {
        NumberAxis y = new NumberAxis("accuracy (%)");
        y.setRange(0, 102);
        XYErrorRenderer r = new XYErrorRenderer();
        r.setDrawXError(false);
        r.setDrawYError(true);
        r.setDefaultLinesVisible(true);
        r.setDefaultShapesVisible(true);
        r.setCapLength(6);
        r.setErrorStroke(new BasicStroke(1.2f));
        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setAxisOffset(new RectangleInsets(4, 4, 4, 4));
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** Star configurations that differ only in their block size, one line per length. */
    private JFreeChart accuracyVsBlockSize() {
        Map<String, List<RunConfig>> groups = new LinkedHashMap<>();
        Set<String> seen = new TreeSet<>();
        for (EvalRunner.Result r : results) {
            RunConfig c = r.config();
            if (c.isStar() && seen.add(c.key())) groups.computeIfAbsent(c.withBlock("auto").key(), k -> new ArrayList<>()).add(c);
        }
        Set<Integer> lengths = new TreeSet<>();
        for (EvalRunner.Result r : results) lengths.add(r.length());
        XYSeriesCollection byBlock = new XYSeriesCollection();
        for (List<RunConfig> g : groups.values()) {
            if (g.size() < 2) continue;
            for (int len : lengths) {
                XYSeries s = new XYSeries(EvalReport.lengthLabel(len) + (groups.size() > 1 ? " " + g.get(0).withBlock("auto").key().replace("b=auto", "b=*") : ""));
                for (RunConfig c : g) {
                    for (EvalReport.Average a : averages) {
                        if (a.length() == len && a.config().key().equals(c.key())) s.add(a.blockSize(), 100 * a.accuracy());
                    }
                }
                if (s.getItemCount() > 1) byBlock.addSeries(s);
            }
        }
        if (byBlock.getSeriesCount() == 0) return null;
        NumberAxis x = new NumberAxis("block size (tokens)");
        x.setAutoRangeIncludesZero(false);
        NumberAxis y = new NumberAxis("accuracy (%)");
        y.setRange(0, 102);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
        JFreeChart chart = new JFreeChart("Star accuracy vs block size (" + suite + ", mean over tasks above the floor)",
                JFreeChart.DEFAULT_TITLE_FONT, new XYPlot(byBlock, x, y, r), true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }

    /** FLOP tick labels as the report writes them ("600 G", "2.00 T") instead of powers of ten. */
    private static final class FlopFormat extends NumberFormat {
        @Override
        public StringBuffer format(double number, StringBuffer to, FieldPosition pos) {
            return to.append(EvalReport.flops(number));
        }

        @Override
        public StringBuffer format(long number, StringBuffer to, FieldPosition pos) {
            return format((double) number, to, pos);
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            return null;
        }
    }
}
