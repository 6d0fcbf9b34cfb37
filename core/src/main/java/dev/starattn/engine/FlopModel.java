package dev.starattn.engine;

import dev.starattn.model.DecoderConfig;
import java.util.function.Predicate;

/**
 * Predicts the phase-1 work of each strategy from (N, H, b, a, model shape): linear work (matrix products,
 * proportional to tokens) and attention work (proportional to the visible query-key pairs). The per-host maximum is
 * the critical path a cluster waits for; the benchmark prints it beside what the hosts measured. Each strategy
 * predicts its own ({@link dev.starattn.engine.strategy.AttentionStrategy#phase1Flops}).
 */
public final class FlopModel {
    private FlopModel() {}

    /** Predicted phase-1 FLOPs of each host. */
    public static long[] phase1PerHost(DecoderConfig c, int n, EngineOptions o) {
        return o.strategy().phase1Flops(c, new int[n], o, b -> false);
    }

    /**
     * Predicted phase-1 FLOPs of each host for this very context, when the blocks for which {@code cached} is true
     * come from a block cache (only a {@link dev.starattn.engine.strategy.AttentionStrategy#blockwise} strategy
     * has blocks a cache holds).
     */
    public static long[] phase1PerHost(DecoderConfig c, int[] context, EngineOptions o, Predicate<BlockTask> cached) {
        return o.strategy().phase1Flops(c, context, o, cached);
    }

    /** FLOPs of one query-key pair over all heads and layers (scores and the weighted sum). */
    public static long attentionFlopsPerPair(DecoderConfig c) {
        return 4L * c.heads() * c.headDim() * c.layers();
    }

    public static long max(long[] v) {
        long m = 0;
        for (long x : v) m = Math.max(m, x);
        return m;
    }

    public static long sum(long[] v) {
        long m = 0;
        for (long x : v) m += x;
        return m;
    }

    /** Query-key pairs of causal attention over n tokens. */
    public static long causalPairs(long n) {
        return n * (n + 1) / 2;
    }
}
