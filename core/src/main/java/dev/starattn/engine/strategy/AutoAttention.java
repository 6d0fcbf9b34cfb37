package dev.starattn.engine.strategy;

import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code --attention auto}: dense when splitting the context would not pay, else star or star-pass, whichever the
 * FLOP model and this machine's measured throughput predict to be done first. A candidate's time is its phase-1
 * FLOPs over the throughput (hosts of one processor take turns, so their FLOPs add up; hosts on their own
 * processors, remote or GPUs, work at once, so the busiest host counts) plus what splitting costs beyond FLOPs:
 * a gather of every host's partial per layer and generated token in phase 2, and star-pass's gather per layer in
 * phase 1. Phase 2's attention FLOPs are the same for every strategy and left out.
 */
public final class AutoAttention {
    /** The name on the command line. */
    public static final String NAME = "auto";
    /** Phase-2 forward steps the estimate charges a split context's gathers for (the query and a short answer). */
    static final int STEPS = 32;

    private AutoAttention() {}

    /**
     * Where the hosts compute: {@code concurrent} is true when each host has a processor of its own (remote hosts,
     * GPUs), false when in-process CPU hosts take turns on this one; {@code gatherSeconds} what one gather of
     * every host's data costs (in-process: a merge; over a network: a round trip); {@code gpu}: star-pass is not
     * offered (the GPU hosts do not pass rows); {@code hostsGiven}: the hosts exist already (remote hosts), so dense,
     * which would leave them idle, is not offered.
     */
    public record Placement(boolean concurrent, double gatherSeconds, boolean gpu, boolean hostsGiven) {
        public static final Placement IN_PROCESS = new Placement(false, 20e-6, false, false);

        /**
         * Where the hosts of a run are: {@code remote} context hosts (their own processors, a network round trip a
         * gather, given already), else GPUs, else in-process CPU hosts. The gather costs are assumed, not measured.
         */
        public static Placement of(boolean remote, boolean gpu) {
            if (remote) return new Placement(true, 0.5e-3, false, true);
            if (gpu) return new Placement(true, 50e-6, true, false);
            return IN_PROCESS;
        }
    }

    /**
     * Choices for one model, set of options and placement at a measured throughput, for contexts of any length:
     * a server's requests and documents, an eval's lengths.
     */
    public record Picker(DecoderConfig config, EngineOptions asked, Placement where, double flopsPerSecond) {
        /** Measures this machine's throughput for {@code model} (once per model) and fixes the rest. */
        public static Picker of(DecoderModel model, EngineOptions asked, Placement where) {
            return new Picker(model.config(), asked, where, measureFlopsPerSecond(model));
        }

        /** The choice for a context of {@code n} tokens. */
        public Choice choose(int n) {
            return AutoAttention.choose(config, n, asked, where, flopsPerSecond);
        }
    }

    /** The strategy chosen for {@code hosts} hosts, why, and each candidate's predicted seconds. */
    public record Choice(AttentionStrategy strategy, int hosts, String why, Map<String, Double> predictedSeconds) {
        public EngineOptions applyTo(EngineOptions asked) {
            return asked.withStrategy(strategy).withHosts(strategy.hosts(hosts));
        }
    }

    /**
     * Chooses for a context of {@code n} tokens and the {@code asked} options ({@code hosts} of them; block and
     * anchor as given), at {@code flopsPerSecond} per processor.
     */
    public static Choice choose(DecoderConfig c, int n, EngineOptions asked, Placement where, double flopsPerSecond) {
        Map<String, Double> predicted = new LinkedHashMap<>();
        double dense = seconds(c, n, asked.withStrategy(Strategies.DENSE).withHosts(1), where, flopsPerSecond);
        predicted.put(Strategies.DENSE.name(), dense);
        if (asked.hosts() <= 1 && !where.hostsGiven()) return new Choice(Strategies.DENSE, 1, "one host: nothing to split", predicted);
        List<AttentionStrategy> split = new ArrayList<>();
        // Not star-pass on GPU hosts: they score its row choice on the CPU, which the FLOP model does not count.
        for (AttentionStrategy s : List.of(Strategies.STAR, Strategies.STAR_PASS)) if (!where.gpu() || s != Strategies.STAR_PASS) split.add(s);
        AttentionStrategy best = Strategies.DENSE;
        double bestSeconds = where.hostsGiven() ? Double.POSITIVE_INFINITY : dense;
        String refused = null;
        for (AttentionStrategy s : split) {
            EngineOptions o = asked.withStrategy(s);
            try {
                o.requireSplit(n);
            } catch (IllegalArgumentException e) {
                refused = e.getMessage();
                continue;
            }
            double t = seconds(c, n, o, where, flopsPerSecond);
            predicted.put(s.name(), t);
            if (t < bestSeconds) {
                best = s;
                bestSeconds = t;
            }
        }
        String times = times(predicted);
        String why;
        if (best == Strategies.DENSE && where.hostsGiven()) {
            // The hosts are there: star's own check then refuses the context in its words.
            return new Choice(Strategies.STAR, asked.hosts(), "the context cannot be split: " + refused, predicted);
        }
        if (best == Strategies.DENSE) {
            why = predicted.size() == 1 && refused != null ? "the context cannot be split: " + refused
                    : "splitting " + n + " tokens over " + asked.hosts() + " hosts would not pay (" + times + ")";
            return new Choice(Strategies.DENSE, 1, why, predicted);
        }
        why = String.format(Locale.ROOT, "%s over %d hosts is predicted fastest for %d tokens (%s; %.2g FLOP/s per processor%s)",
                best.name(), asked.hosts(), n, times, flopsPerSecond, where.concurrent() ? ", hosts at once" : ", hosts taking turns");
        return new Choice(best, asked.hosts(), why, predicted);
    }

    /** Predicted seconds of phase 1 plus the split's gathers. */
    static double seconds(DecoderConfig c, int n, EngineOptions o, Placement where, double flopsPerSecond) {
        long[] perHost = o.strategy().phase1Flops(c, new int[n], o, b -> false);
        double work = (where.concurrent() ? FlopModel.max(perHost) : FlopModel.sum(perHost)) / flopsPerSecond;
        if (!o.strategy().splitsContext() || perHost.length == 1) return work;
        double gathers = (double) c.layers() * STEPS + o.strategy().phase1Exchanges(c, perHost.length);
        return work + gathers * where.gatherSeconds();
    }

    private static String times(Map<String, Double> predicted) {
        List<String> parts = new ArrayList<>();
        for (var e : predicted.entrySet()) parts.add(String.format(Locale.ROOT, "%s %.0f ms", e.getKey(), e.getValue() * 1e3));
        return String.join(", ", parts);
    }

    /**
     * This machine's throughput for {@code model}: FLOPs per second of a dense prefill of a short context on this
     * thread pool (linear work and attention as the FLOP model counts them); measured once per model.
     */
    public static double measureFlopsPerSecond(DecoderModel model) {
        return MEASURED.computeIfAbsent(model, AutoAttention::measure);
    }

    private static final Map<DecoderModel, Double> MEASURED = java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    private static double measure(DecoderModel model) {
        DecoderConfig c = model.config();
        int n = 128;
        int[] tokens = new int[n], pos = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = 1 + i % Math.max(1, c.vocabSize() - 1);
            pos[i] = i;
        }
        dev.starattn.engine.LocalContextHost host = new dev.starattn.engine.LocalContextHost("probe", model, n);
        var task = dev.starattn.engine.EncodeTask.of(List.of(dev.starattn.engine.BlockTask.plain(0, tokens, pos)));
        host.encode(task, dev.starattn.engine.ProgressListener.NONE);  // warms the kernels
        host.clear();
        long before = host.stats().phase1Nanos, flops = host.stats().phase1Flops();
        host.encode(task, dev.starattn.engine.ProgressListener.NONE);
        long nanos = host.stats().phase1Nanos - before;
        return (host.stats().phase1Flops() - flops) / Math.max(1e-9, nanos / 1e9);
    }
}
