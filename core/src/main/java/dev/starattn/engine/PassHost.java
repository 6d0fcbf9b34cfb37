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
 *
 * <p>An anchor at positions {@code 0..a-1} sees only itself ({@link BlockTask#anchorLeads}), so blocks in a row with
 * the same one share its computation, as star's hosts do. With a block cache and keys for the blocks, a block found
 * there is not computed: its KV and the rows it passes come from the cache.
 */
public final class PassHost {
    private final DecoderModel model;
    private final LocalContextHost host;
    private final List<Segment> segments = new ArrayList<>();
    private final EncodeTask.PassRule rule;
    private int layer = -1;
    private long lastNanos;

    /** The rows a block attends to before itself that are its own queries too: its anchor, shared by blocks with the same one. */
    private static final class Anchor {
        final int a;
        final int[] positions;
        final Set<Integer> positionSet = new HashSet<>();
        final float[] x;
        final Rope rope;
        DecoderModel.Qkv qkv;
        boolean attended;  // this layer's attention done (once for every block that shares it)
        float[] pendingOut;  // this layer's attention output, applied once every block sharing it has its K and V

        Anchor(DecoderModel model, BlockTask b) {
            a = b.anchorTokens().length;
            positions = b.anchorPositions();
            for (int p : positions) positionSet.add(p);
            x = model.embed(b.anchorTokens(), 0, a);
            rope = new Rope(model.config(), positions, 0, a);
        }
    }

    /** One block; its anchor (null: none) and, when the block cache holds it, its KV and passing rows per layer. */
    private static final class Segment {
        final int m, start;
        final int[] positions;
        final Anchor anchor;
        final float[] x;
        final Rope rope;
        final String cacheKey;
        final KvCache[] cached;  // per layer: the block's m rows, then the rows it passes; null: computed
        final KvCache[] toCache;  // the same, filled as the layers are computed; null: not cached
        DecoderModel.Qkv qkv;
        KvCache passing;

        Segment(DecoderModel model, BlockTask b, Anchor anchor, String cacheKey, KvCache[] cached) {
            m = b.tokens().length;
            start = b.start();
            positions = b.positions();
            this.anchor = anchor;
            this.cacheKey = cacheKey;
            this.cached = cached;
            x = cached != null ? null : model.embed(b.tokens(), 0, m);
            rope = cached != null ? null : new Rope(model.config(), positions, 0, m);
            toCache = cached == null && cacheKey != null ? new KvCache[model.config().layers()] : null;
        }

        int anchorRows() {
            return anchor == null ? 0 : anchor.a;
        }
    }

    /** Embeds the host's segments; each block passes the rows {@code rule} chooses. */
    public PassHost(DecoderModel model, LocalContextHost host, List<BlockTask> blocks, EncodeTask.PassRule rule) {
        this(model, host, blocks, rule, null);
    }

    /**
     * As {@link #PassHost(DecoderModel, LocalContextHost, List, EncodeTask.PassRule)}, with the block cache's key
     * of each block ({@link BlockCache#passKey}; null: the cache is not used).
     */
    public PassHost(DecoderModel model, LocalContextHost host, List<BlockTask> blocks, EncodeTask.PassRule rule, List<String> cacheKeys) {
        long s = System.nanoTime();
        this.model = model;
        this.host = host;
        this.rule = rule;
        BlockCache cache = cacheKeys == null ? null : host.blockCache();
        DecoderConfig c = model.config();
        Anchor lastAnchor = null;
        BlockTask lastAnchored = null;
        for (int i = 0; i < blocks.size(); i++) {
            BlockTask b = blocks.get(i);
            host.stats().blocks++;
            host.stats().tokens += b.tokens().length;
            if (b.tokens().length == 0) continue;
            String key = cache == null ? null : cacheKeys.get(i);
            KvCache[] hit = key == null ? null : cache.get(key, c.layers(), c.kvHeads(), c.headDim(),
                    host.cache(0).keyType(), host.cache(0).valueType());
            if (hit != null && hit[0].size() < b.tokens().length) hit = null;
            if (key != null) {
                if (hit != null) host.stats().cacheHits++;
                else host.stats().cacheMisses++;
            }
            Anchor anchor = null;
            if (hit == null && b.anchorTokens().length > 0) {
                boolean shared = lastAnchor != null && b.anchorLeads() && b.sameAnchor(lastAnchored);
                anchor = shared ? lastAnchor : new Anchor(model, b);
                lastAnchor = anchor;
                lastAnchored = b;
            }
            segments.add(new Segment(model, b, anchor, key, hit));
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
     * Starts {@code layer}: Q, K, V of every anchor and block, and the rows this host passes to the later hosts (its
     * blocks' choices, in position order; rows at their original positions, RoPE applied, in the host's KV types).
     */
    public KvCache beginLayer(int layer) {
        if (layer != this.layer + 1) throw new IllegalStateException("layer " + layer + " after layer " + this.layer);
        this.layer = layer;
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        KvCache out = newCache(16);
        long pairs = 0;
        Anchor previous = null;
        for (Segment g : segments) {
            if (g.cached != null) {
                g.passing = g.cached[layer].slice(g.m, g.cached[layer].size() - g.m);
                out.appendAll(g.passing);
                continue;
            }
            if (g.anchor != null && g.anchor != previous) {
                g.anchor.qkv = model.qkv(layer, g.anchor.x, g.anchor.a, g.anchor.rope);
                g.anchor.attended = false;
                previous = g.anchor;
            }
            g.qkv = model.qkv(layer, g.x, g.m, g.rope);
            int skip = Math.max(0, Math.min(g.m, rule.skipBelow() - g.start));
            int[] rows = PassSelector.select(g.qkv.q(), g.qkv.k(), 0, g.m, c.heads(), c.kvHeads(), c.headDim(), rule.window(),
                    rule.tokens(), skip);
            if (PassSelector.scores(rule.tokens(), g.m - skip)) pairs += PassSelector.pairs(g.m, c.heads(), rule.window());
            g.passing = newCache(Math.max(1, rows.length));
            for (int r : rows) g.passing.append(g.qkv.k(), g.qkv.v(), r, 1, g.positions, r);
            out.appendAll(g.passing);
        }
        host.addAttention(true, pairs);
        lastNanos = System.nanoTime() - s;
        host.stats().phase1Nanos += lastNanos;
        return out;
    }

    /**
     * Finishes the layer: each segment attends over its anchor, the passing rows of {@code earlier} (the earlier
     * hosts', position order) and of this host's earlier blocks, and its own block; the blocks' KV is kept. A shared
     * anchor attends once, over the first of its blocks' rows (the others' differ only at positions it cannot see).
     */
    public void endLayer(KvCache earlier) {
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        long pairs = 0, tokens = 0;
        List<KvCache> before = new ArrayList<>();
        if (earlier != null && earlier.size() > 0) before.add(earlier);
        List<Anchor> finished = new ArrayList<>();
        for (Segment g : segments) {
            if (g.cached != null) {
                host.cache(layer).appendRange(g.cached[layer], 0, g.m);
                before.add(g.passing);
                continue;
            }
            KvCache kv = context(g, before);
            kv.append(g.qkv.k(), g.qkv.v(), 0, g.m, g.positions, 0);
            Anchor an = g.anchor;
            if (an != null && !an.attended) {
                Partial p = AttentionBackends.current().attend(an.qkv.q(), an.a, an.positions, c.heads(), kv);
                pairs += p.pairs();
                tokens += an.a;
                an.attended = true;
                finished.add(an);
                an.pendingOut = Arrays.copyOf(p.out(), an.a * c.qDim());
            }
            Partial p = AttentionBackends.current().attend(g.qkv.q(), g.m, g.positions, c.heads(), kv);
            pairs += p.pairs();
            host.cache(layer).append(g.qkv.k(), g.qkv.v(), 0, g.m, g.positions, 0);
            if (g.toCache != null) {
                KvCache entry = newCache(g.m + g.passing.size());
                entry.append(g.qkv.k(), g.qkv.v(), 0, g.m, g.positions, 0);
                entry.appendAll(g.passing);
                g.toCache[layer] = entry;
            }
            model.finishLayer(layer, g.x, g.m, Arrays.copyOf(p.out(), g.m * c.qDim()));
            tokens += g.m;
            before.add(g.passing);
            g.qkv = null;
        }
        // An anchor's K and V serve every block that shares it: it moves to the next layer after all of them.
        for (Anchor an : finished) {
            model.finishLayer(layer, an.x, an.a, an.pendingOut);
            an.pendingOut = null;
            an.qkv = null;
        }
        for (Segment g : segments) g.passing = null;
        if (layer == model.config().layers() - 1) {
            for (Segment g : segments) if (g.toCache != null) host.blockCache().put(g.cacheKey, g.toCache);
        }
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
        Anchor an = g.anchor;
        int a = g.anchorRows();
        KvCache kv = newCache(a + passing + g.m);
        int ai = 0;
        for (KvCache b : before) {
            int[] pos = b.positions();
            for (int r = 0; r < b.size(); r++) {
                if (pos[r] >= g.start || (an != null && an.positionSet.contains(pos[r]))) continue;
                while (ai < a && an.positions[ai] < pos[r]) ai = anchorRow(an, kv, ai);
                kv.appendRange(b, r, 1);
            }
        }
        while (ai < a) ai = anchorRow(an, kv, ai);
        return kv;
    }

    private static int anchorRow(Anchor an, KvCache kv, int i) {
        kv.append(an.qkv.k(), an.qkv.v(), i, 1, an.positions, i);
        return i + 1;
    }

    private KvCache newCache(int capacity) {
        DecoderConfig c = model.config();
        KvCache own = host.cache(0);
        return new KvCache(c.kvHeads(), c.headDim(), capacity, own.keyType(), own.valueType());
    }
}
