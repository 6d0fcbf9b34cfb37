package dev.starattn.engine;

import dev.starattn.attention.AttentionBackends;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.Partial;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.Rope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One host's side of star-pass phase 1, layer by layer: star's segments (each block after its anchor), whose
 * queries also see the rows passed by every earlier block. {@link #beginLayer} computes Q, K, V of every segment
 * and picks the rows each block passes ({@link PassSelector}); {@link #endLayer} takes the earlier hosts' passing
 * rows of the layer, attends each segment over [anchor, passing rows before its block, block] at their original
 * positions, keeps the block's KV and finishes the layer. The in-process strategy and the cluster's host server
 * both drive this class, so the math exists once. Compute time is added to the host's phase-1 time.
 */
public final class PassHost {
    private final DecoderModel model;
    private final LocalContextHost host;
    private final List<Segment> segments = new ArrayList<>();
    private final EncodeTask.PassRule rule;
    private int layer = -1;
    private long lastNanos;

    /** One block after its anchor: rows {@code [0, a)} are the anchor's, {@code [a, a + m)} the block's. */
    private static final class Segment {
        final int a, m, start;
        final int[] positions;
        final Set<Integer> anchorPositions = new HashSet<>();
        final float[] x;
        final Rope rope;
        DecoderModel.Qkv qkv;
        KvCache passing;

        Segment(DecoderModel model, BlockTask b) {
            a = b.anchorTokens().length;
            m = b.tokens().length;
            start = b.start();
            int[] tokens = new int[a + m];
            positions = new int[a + m];
            System.arraycopy(b.anchorTokens(), 0, tokens, 0, a);
            System.arraycopy(b.tokens(), 0, tokens, a, m);
            System.arraycopy(b.anchorPositions(), 0, positions, 0, a);
            System.arraycopy(b.positions(), 0, positions, a, m);
            for (int p : b.anchorPositions()) anchorPositions.add(p);
            x = model.embed(tokens, 0, a + m);
            rope = new Rope(model.config(), positions, 0, a + m);
        }
    }

    /** Embeds the host's segments; each block passes the rows {@code rule} chooses. */
    public PassHost(DecoderModel model, LocalContextHost host, List<BlockTask> blocks, EncodeTask.PassRule rule) {
        long s = System.nanoTime();
        this.model = model;
        this.host = host;
        this.rule = rule;
        for (BlockTask b : blocks) {
            if (b.tokens().length > 0) segments.add(new Segment(model, b));
            host.stats().blocks++;
            host.stats().tokens += b.tokens().length;
        }
        lastNanos = System.nanoTime() - s;
        host.stats().phase1Nanos += lastNanos;
    }

    public LocalContextHost host() {
        return host;
    }

    /** Compute time of the last step (constructor, {@link #beginLayer} or {@link #endLayer}). */
    public long lastNanos() {
        return lastNanos;
    }

    /**
     * Starts {@code layer}: Q, K, V of every segment, and the rows this host passes to the later hosts (its blocks'
     * choices, in position order; rows at their original positions, RoPE applied, in the host's KV types).
     */
    public KvCache beginLayer(int layer) {
        if (layer != this.layer + 1) throw new IllegalStateException("layer " + layer + " after layer " + this.layer);
        this.layer = layer;
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        KvCache out = newCache(16);
        long pairs = 0;
        for (Segment g : segments) {
            g.qkv = model.qkv(layer, g.x, g.a + g.m, g.rope);
            int skip = Math.max(0, Math.min(g.m, rule.skipBelow() - g.start));
            int[] rows = PassSelector.select(g.qkv.q(), g.qkv.k(), g.a, g.m, c.heads(), c.kvHeads(), c.headDim(), rule.window(),
                    rule.tokens(), skip);
            if (PassSelector.scores(rule.tokens(), g.m - skip)) pairs += PassSelector.pairs(g.m, c.heads(), rule.window());
            g.passing = newCache(Math.max(1, rows.length));
            for (int r : rows) g.passing.append(g.qkv.k(), g.qkv.v(), g.a + r, 1, g.positions, g.a + r);
            out.appendAll(g.passing);
        }
        host.addAttention(true, pairs);
        lastNanos = System.nanoTime() - s;
        host.stats().phase1Nanos += lastNanos;
        return out;
    }

    /**
     * Finishes the layer: each segment attends over its anchor, the passing rows of {@code earlier} (the earlier
     * hosts', position order) and of this host's earlier blocks, and its own block; the blocks' KV is kept.
     */
    public void endLayer(KvCache earlier) {
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        long pairs = 0, tokens = 0;
        List<KvCache> before = new ArrayList<>();
        if (earlier != null && earlier.size() > 0) before.add(earlier);
        for (Segment g : segments) {
            KvCache kv = context(g, before);
            kv.append(g.qkv.k(), g.qkv.v(), g.a, g.m, g.positions, g.a);
            Partial p = AttentionBackends.current().attend(g.qkv.q(), g.a + g.m, g.positions, c.heads(), kv);
            pairs += p.pairs();
            host.cache(layer).append(g.qkv.k(), g.qkv.v(), g.a, g.m, g.positions, g.a);
            model.finishLayer(layer, g.x, g.a + g.m, Arrays.copyOf(p.out(), (g.a + g.m) * c.qDim()));
            tokens += g.a + g.m;
            before.add(g.passing);
            g.qkv = null;
        }
        for (Segment g : segments) g.passing = null;
        host.addAttention(true, pairs);
        // linearFlopsPerToken covers all layers: count this layer's share.
        host.addLinear(true, tokens * c.linearFlopsPerToken() / c.layers());
        lastNanos = System.nanoTime() - s;
        host.stats().phase1Nanos += lastNanos;
    }

    /**
     * The segment's anchor rows and the passing rows before its block, merged in position order; a passing row at
     * a position the anchor holds is left out (the anchor has it already).
     */
    private KvCache context(Segment g, List<KvCache> before) {
        int passing = 0;
        for (KvCache b : before) passing += b.size();
        KvCache kv = newCache(g.a + passing + g.m);
        int ai = 0;
        for (KvCache b : before) {
            int[] pos = b.positions();
            for (int r = 0; r < b.size(); r++) {
                if (pos[r] >= g.start || g.anchorPositions.contains(pos[r])) continue;
                while (ai < g.a && g.positions[ai] < pos[r]) ai = anchorRow(g, kv, ai);
                kv.appendRange(b, r, 1);
            }
        }
        while (ai < g.a) ai = anchorRow(g, kv, ai);
        return kv;
    }

    private static int anchorRow(Segment g, KvCache kv, int i) {
        kv.append(g.qkv.k(), g.qkv.v(), i, 1, g.positions, i);
        return i + 1;
    }

    private KvCache newCache(int capacity) {
        DecoderConfig c = model.config();
        KvCache own = host.cache(0);
        return new KvCache(c.kvHeads(), c.headDim(), capacity, own.keyType(), own.valueType());
    }
}
