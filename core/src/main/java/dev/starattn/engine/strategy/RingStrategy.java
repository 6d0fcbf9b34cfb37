package dev.starattn.engine.strategy;

import dev.starattn.attention.KvCache;
import dev.starattn.engine.BlockPlan;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.RingHost;
import dev.starattn.engine.RingReach;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;

/**
 * Ring Attention: one contiguous share of the context per host ({@link #shares}); layer by layer every host's KV
 * block visits every other host, which merges its attention to it by log-sum-exp unless the block lies wholly in
 * its causal future. Exact. Hosts in this JVM's CPU are driven here ({@link RingHost}); other hosts (remote, GPU)
 * get their share with a {@link EncodeTask.RingLink} and exchange the blocks among themselves.
 */
public class RingStrategy implements AttentionStrategy {
    RingStrategy() {}

    @Override
    public String name() {
        return "ring";
    }

    @Override
    public int hosts(int requested) {
        return requested;
    }

    @Override
    public boolean blockwise() {
        return false;
    }

    @Override
    public boolean queryHostHoldsContext() {
        return false;
    }

    /** The most hosts a context of {@code n} tokens can be shared over: each holds at least one token. */
    int mostHosts(int n) {
        return n;
    }

    /** Every other host's block per layer. */
    @Override
    public int phase1Exchanges(DecoderConfig c, int hosts) {
        return c.layers() * (hosts - 1);
    }

    @Override
    public void requireSplit(int n, EngineOptions o) {
        AttentionStrategy.super.requireSplit(n, o);
        requireSplit(n, o.hosts());
    }

    private void requireSplit(int n, int hosts) {
        int most = mostHosts(n);
        if (hosts > most) {
            throw new IllegalArgumentException("--hosts " + hosts + " is more than a context of " + n + " tokens can be split into for "
                    + name() + " attention (" + shareRule() + "): use --hosts " + most + " or fewer");
        }
    }

    String shareRule() {
        return "each host holds at least one token";
    }

    /** The positions each of {@code hosts} hosts holds of a context of {@code n} tokens (refused when one would hold none). */
    public final List<int[]> shares(int n, int hosts) {
        requireSplit(n, hosts);
        return split(n, hosts);
    }

    /** Contiguous ranges. */
    List<int[]> split(int n, int hosts) {
        List<int[]> out = new ArrayList<>();
        for (int h = 0; h < hosts; h++) {
            out.add(BlockPlan.range((int) ((long) n * h / hosts), (int) ((long) n * (h + 1) / hosts)));
        }
        return out;
    }

    @Override
    public List<EncodeTask> plan(int[] context, EngineOptions options) {
        List<EncodeTask> out = new ArrayList<>();
        List<int[]> shares = shares(context.length, options.hosts());
        for (int h = 0; h < shares.size(); h++) {
            int[] p = shares.get(h);
            int[] toks = new int[p.length];
            for (int i = 0; i < p.length; i++) toks[i] = context[p[i]];
            out.add(EncodeTask.of(List.of(BlockTask.plain(h, toks, p))));
        }
        return out;
    }

    @Override
    public void encode(int[] context, EngineOptions options, List<? extends ContextHost> hosts, ProgressListener progress) {
        List<EncodeTask> plan = plan(context, options.withHosts(hosts.size()));
        if (hosts.stream().allMatch(h -> h instanceof LocalContextHost)) {
            List<LocalContextHost> locals = new ArrayList<>();
            for (ContextHost h : hosts) locals.add((LocalContextHost) h);
            inProcess(locals, plan, progress);
            return;
        }
        String ringId = UUID.randomUUID().toString();
        List<EncodeTask> linked = new ArrayList<>();
        int[][] spans = spans(plan);
        for (int h = 0; h < hosts.size(); h++) linked.add(plan.get(h).inRing(ringId, h, hosts, spans));
        Phase1.together(hosts, linked, progress);
    }

    /**
     * The ring in one process: all hosts advance layer by layer; at each layer every host's KV block visits every
     * other host. Each host's compute is timed to it.
     */
    private static void inProcess(List<LocalContextHost> hosts, List<EncodeTask> plan, ProgressListener progress) {
        int hCount = hosts.size();
        if (hCount == 0) return;
        DecoderModel model = hosts.getFirst().model();
        DecoderConfig c = model.config();
        RingHost[] ring = new RingHost[hCount];
        for (int h = 0; h < hCount; h++) {
            BlockTask share = plan.get(h).blocks().getFirst();
            ring[h] = new RingHost(model, hosts.get(h), share.tokens(), share.positions());
        }
        KvCache[] block = new KvCache[hCount];
        int[][] spans = spans(plan);
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < hCount; h++) block[h] = ring[h].beginLayer(l);
            int[] reach = RingReach.of(model.attentionLimits(l), spans, hCount);
            for (int h = 0; h < hCount; h++) {
                LocalContextHost me = hosts.get(h);
                for (int step = 1; step < hCount; step++) {
                    int src = (h - step + hCount) % hCount;
                    if (step > reach[src]) continue;
                    // The block reaches this host (it may only pass through, when it lies in this host's causal future).
                    long bytes = block[src].bytes();
                    me.stats().phase1BytesReceived += bytes;
                    hosts.get(src).stats().phase1BytesSent += bytes;
                    ring[h].visit(block[src]);
                }
                ring[h].endLayer();
            }
        }
        for (LocalContextHost h : hosts) progress.blockDone(h.name(), 1, 1, h.stats().tokens);
    }

    /** Each host's key positions {min, max} (null for none): how far a block travels depends on them. */
    private static int[][] spans(List<EncodeTask> plan) {
        int[][] spans = new int[plan.size()][];
        for (int h = 0; h < spans.length; h++) spans[h] = plan.get(h).keptPositionRange();
        return spans;
    }

    @Override
    public long[] phase1Flops(DecoderConfig c, int[] context, EngineOptions o, Predicate<BlockTask> cached) {
        long lin = c.linearFlopsPerToken();
        long att = FlopModel.attentionFlopsPerPair(c);
        List<int[]> pos = shares(context.length, o.hosts());
        long[] out = new long[pos.size()];
        for (int h = 0; h < pos.size(); h++) {
            long pairs = 0;
            for (int p : pos.get(h)) pairs += p + 1; // every earlier or equal position, wherever it lives
            out[h] = pos.get(h).length * lin + pairs * att;
        }
        return out;
    }
}
