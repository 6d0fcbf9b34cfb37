package dev.starattn.engine;

import dev.starattn.model.LlamaConfig;
import java.util.List;
import java.util.function.Predicate;

/**
 * Predicts the phase-1 work of dense, ring and star attention from (N, H, b, a, model shape):
 * linear work (matrix products, proportional to tokens) and attention work (proportional to the
 * visible query-key pairs). The per-host maximum is the critical path a cluster waits for; the
 * benchmark prints it beside what the hosts measured.
 */
public final class FlopModel {
    private FlopModel() {}

    /** Predicted phase-1 FLOPs of each host. */
    public static long[] phase1PerHost(LlamaConfig c, int n, EngineOptions o) {
        long lin = c.linearFlopsPerToken();
        long att = 4L * c.heads() * c.headDim() * c.layers();
        return switch (o.mode()) {
            case DENSE -> new long[] {n * lin + causalPairs(n) * att};
            case STAR -> star(c, BlockPlan.star(new int[n], o), o, b -> false);
            case RING, RING_ZIGZAG -> {
                List<int[]> pos = BlockPlan.ring(n, o.hosts(), o.mode() == AttentionMode.RING_ZIGZAG);
                long[] out = new long[pos.size()];
                for (int h = 0; h < pos.size(); h++) {
                    long pairs = 0;
                    for (int p : pos.get(h)) pairs += p + 1; // every earlier or equal position, wherever it lives
                    out[h] = pos.get(h).length * lin + pairs * att;
                }
                yield out;
            }
        };
    }

    /**
     * Predicted star phase-1 FLOPs of each host for this very context, when the blocks for which
     * {@code cached} is true come from a block cache: a hit costs no FLOPs, and a host whose blocks
     * all hit does not encode its anchor either. For a dense or ring run the cache plays no part.
     */
    public static long[] phase1PerHost(LlamaConfig c, int[] context, EngineOptions o, Predicate<BlockTask> cached) {
        if (o.mode() != AttentionMode.STAR) return phase1PerHost(c, context.length, o);
        return star(c, BlockPlan.star(context, o), o, cached);
    }

    private static long[] star(LlamaConfig c, List<List<BlockTask>> plan, EngineOptions o, Predicate<BlockTask> cached) {
        long lin = c.linearFlopsPerToken();
        long att = 4L * c.heads() * c.headDim() * c.layers();
        // The anchor is encoded once per host when every block shares it.
        boolean shared = o.anchorPositions() == AnchorPositions.ORIGINAL && o.anchorContent() != AnchorContent.PREVIOUS;
        long[] out = new long[plan.size()];
        for (int h = 0; h < plan.size(); h++) {
            long f = 0;
            int lastAnchor = -1;
            for (BlockTask b : plan.get(h)) {
                if (cached.test(b)) continue;
                long m = b.tokens().length, a = b.anchorTokens().length;
                if (a > 0 && (!shared || a != lastAnchor)) {
                    f += a * lin + causalPairs(a) * att;
                    lastAnchor = (int) a;
                }
                f += m * lin + (causalPairs(m) + m * a) * att;
            }
            out[h] = f;
        }
        return out;
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

    static long causalPairs(long n) {
        return n * (n + 1) / 2;
    }
}
