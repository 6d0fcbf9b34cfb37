package dev.starattn.cuda;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodeTask.PassRule;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.PassSelector;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * One GPU host's side of star-pass phase 1, layer by layer: the GPU counterpart of the CPU's {@code PassHost}, the
 * same segments (each block after its anchor, an anchor at positions {@code 0..a-1} computed once for the blocks in a
 * row that share it) and the same rule. {@link #beginLayer} runs RMSNorm, Q/K/V and RoPE of every anchor and block
 * ({@link CudaModel#layerQkv}) and picks the rows each block passes: the window's queries and the block's keys (f32,
 * as the GPU computed them) are copied down and {@link PassSelector} scores them on the CPU (O(window x block) a
 * layer, the CPU's own cost); the chosen rows go, in bf16, into a cache of this host's passing rows. {@link #endLayer}
 * takes the earlier hosts' passing rows of the layer (on this GPU), and per block attends over [anchor, passing rows
 * before it, block] in position order ({@link PassMerge}; cuDNN's fused attention where it applies, as a star
 * prefill), keeps the block's KV in the host's cache, and runs Wo and the FFN ({@link CudaModel#layerOut}).
 *
 * <p>Every anchor and block owns its activations for the whole run (its hidden state lives across the layers, while
 * the other hosts take their turns). FLOPs are counted as the CPU counts them: the linear work of every row computed,
 * the attention's visible pairs and the window's scores. Not thread-safe; the caller synchronizes the GPU between the
 * steps ({@link GpuStage}).
 */
final class CudaPassHost implements GpuStage.Member, AutoCloseable {
    /** An anchor and its activations; shared by the blocks in a row that have it (when it leads). */
    private static final class Anchor implements AutoCloseable {
        final int a;
        final int[] positions;
        final CudaModel.Activations act;
        boolean attended;  // this layer's attention done (once for every block that shares it)

        Anchor(CudaModel model, BlockTask b) {
            a = b.anchorTokens().length;
            positions = b.anchorPositions();
            act = begun(model, b.anchorTokens(), positions);
        }

        @Override
        public void close() {
            act.close();
        }
    }

    /** Fresh activations with {@code tokens} at {@code positions} embedded, freed again if that fails. */
    private static CudaModel.Activations begun(CudaModel model, int[] tokens, int[] positions) {
        CudaModel.Activations act = model.newActivations();
        try {
            model.begin(act, tokens, positions, 0, tokens.length);
            return act;
        } catch (RuntimeException | Error e) {
            act.close();
            throw e;
        }
    }

    /** One block, its anchor (null: none), its activations and the rows it passes at the current layer. */
    private static final class Segment implements AutoCloseable {
        final int m, start;
        final int[] positions;
        final Anchor anchor;
        final CudaModel.Activations act;
        final DeviceKv passing;

        Segment(CudaModel model, BlockTask b, Anchor anchor, int passTokens) {
            m = b.tokens().length;
            start = b.start();
            positions = b.positions();
            this.anchor = anchor;
            DecoderConfig c = model.config();
            passing = new DeviceKv(model.device(), c.kvHeads(), c.headDim(), Math.max(1, Math.min(passTokens, m)), true);
            try {
                act = begun(model, b.tokens(), positions);
            } catch (RuntimeException | Error e) {
                passing.close();
                throw e;
            }
        }

        @Override
        public void close() {
            act.close();
            passing.close();
        }
    }

    private final CudaContextHost host;
    private final CudaModel model;
    private final CudaDevice dev;
    private final DecoderConfig c;
    private final PassRule rule;
    private final List<Segment> segments = new ArrayList<>();
    private final List<Anchor> anchors = new ArrayList<>();
    private final DeviceKv out, earlier, context;
    private int layer = -1;

    /** Embeds the host's segments on its GPU; each block passes the rows {@code rule} chooses. */
    CudaPassHost(CudaContextHost host, List<BlockTask> blocks, PassRule rule) {
        this.host = host;
        this.model = host.model();
        this.dev = model.device();
        this.c = model.config();
        this.rule = rule;
        DeviceKv[] made = new DeviceKv[3];
        try {
            for (int i = 0; i < made.length; i++) made[i] = new DeviceKv(dev, c.kvHeads(), c.headDim(), 16, true);
            long rows = host.kvTokens();
            for (BlockTask b : blocks) rows += b.tokens().length;
            host.reserve((int) Math.min(Integer.MAX_VALUE, rows));  // the blocks' KV of every layer, sized once
            Anchor lastAnchor = null;
            BlockTask lastAnchored = null;
            for (BlockTask b : blocks) {
                HostStats s = host.stats();
                s.blocks++;
                s.tokens += b.tokens().length;
                if (b.tokens().length == 0) continue;
                Anchor anchor = null;
                if (b.anchorTokens().length > 0) {
                    boolean shared = lastAnchor != null && b.anchorLeads() && b.sameAnchor(lastAnchored);
                    if (!shared) anchors.add(new Anchor(model, b));
                    anchor = anchors.getLast();
                    lastAnchor = anchor;
                    lastAnchored = b;
                }
                segments.add(new Segment(model, b, anchor, rule.tokens()));
            }
        } catch (RuntimeException | Error e) {
            for (DeviceKv k : made) if (k != null) k.close();
            closeSegments();
            throw e;
        }
        out = made[0];
        earlier = made[1];
        context = made[2];
    }

    @Override
    public CudaContextHost host() {
        return host;
    }

    @Override
    public boolean idle() {
        return segments.isEmpty();
    }

    /**
     * Starts {@code layer}: Q, K, V of every anchor and block, and the rows this host passes to the later hosts (its
     * blocks' choices, in position order, RoPE applied, bf16), returned on this host's GPU (valid until the next layer).
     */
    DeviceKv beginLayer(int layer) {
        if (layer != this.layer + 1) throw new IllegalStateException("layer " + layer + " after layer " + this.layer);
        this.layer = layer;
        out.truncate(0);
        for (Anchor an : anchors) {
            model.layerQkv(an.act, layer, an.a);
            an.attended = false;
        }
        long pairs = 0;
        for (Segment g : segments) {
            model.layerQkv(g.act, layer, g.m);
            int skip = Math.max(0, Math.min(g.m, rule.skipBelow() - g.start));
            boolean scored = PassSelector.scores(rule.tokens(), g.m - skip);
            float[] windowQ = null, keys = null;
            if (scored) {
                int w = Math.min(rule.window(), g.m);
                windowQ = dev.download(g.act.q + 4L * (g.m - w) * c.qDim(), Math.multiplyExact(w, c.qDim()));
                keys = dev.download(g.act.k, Math.multiplyExact(g.m, c.kvDim()));
                pairs += PassSelector.pairs(g.m, c.heads(), rule.window());
            }
            int[] rows = PassSelector.selectFromWindow(windowQ, keys, g.m, c.heads(), c.kvHeads(), c.headDim(), rule.window(),
                    rule.tokens(), skip);
            g.passing.truncate(0);
            for (int i = 0; i < rows.length; ) {
                int r = rows[i], run = 1;
                while (i + run < rows.length && rows[i + run] == r + run) run++;
                g.passing.appendDevice(g.act.k + 4L * r * c.kvDim(), g.act.v + 4L * r * c.kvDim(), g.act.pos + 4L * r, run, g.positions, r);
                i += run;
            }
            out.appendRange(g.passing, 0, g.passing.size());
        }
        host.stats().phase1AttentionFlops += AttentionKernel.flops(pairs, 1, c.headDim());
        return out;
    }

    /** The cache the earlier hosts' passing rows of the current layer are gathered into (on this host's GPU). */
    DeviceKv earlier() {
        return earlier;
    }

    /**
     * Finishes the layer: each block attends over its anchor, the passing rows of {@link #earlier} (the earlier hosts',
     * position order) and of this host's earlier blocks, and itself; its KV is kept. A shared anchor attends once,
     * over the first of its blocks' rows (the others' differ only at positions it cannot see).
     */
    void endLayer() {
        int heads = c.heads(), hd = c.headDim();
        long pairs = 0, tokens = 0;
        List<DeviceKv> before = new ArrayList<>();
        if (earlier.size() > 0) before.add(earlier);
        List<Anchor> finished = new ArrayList<>();
        for (Segment g : segments) {
            fillContext(g, before);
            context.appendDevice(g.act.k, g.act.v, g.act.pos, g.m, g.positions, 0);
            Anchor an = g.anchor;
            if (an != null && !an.attended) {
                model.attention().attend(an.act.q, an.act.pos, an.a, heads, context, 0, context.size(), an.act.att, an.act.lse);
                long elems = (long) an.a * c.qDim();
                dev.launch("f32_to_bf16", dev.gridFor(elems, 256), 1, 1, 256, 0, an.act.att, an.act.attb, elems);
                pairs += context.visiblePairs(an.positions, 0, context.size()) * heads;
                tokens += an.a;
                an.attended = true;
                finished.add(an);
            }
            // The block's queries are the context's last rows: a star prefill's attention (cuDNN where it applies).
            model.attention().attendPrefill(g.act.q, g.act.qb, g.act.pos, g.m, heads, context, g.act.att, g.act.attb, g.act.lse);
            pairs += context.visiblePairs(g.positions, 0, context.size()) * heads;
            host.cache(layer).appendDevice(g.act.k, g.act.v, g.act.pos, g.m, g.positions, 0);
            model.layerOut(g.act, layer, g.m);
            tokens += g.m;
            before.add(g.passing);
        }
        // An anchor's K and V serve every block that shares it: it moves to the next layer after all of them.
        for (Anchor an : finished) model.layerOut(an.act, layer, an.a);
        host.stats().phase1AttentionFlops += AttentionKernel.flops(pairs, 1, hd);
        // linearFlopsPerToken covers all layers: this layer's share.
        host.stats().phase1LinearFlops += tokens * c.linearFlopsPerToken() / c.layers();
    }

    /** The context cache := the segment's anchor rows and the passing rows before its block, in position order. */
    private void fillContext(Segment g, List<DeviceKv> before) {
        context.truncate(0);
        List<int[]> positions = new ArrayList<>();
        for (DeviceKv b : before) positions.add(b.positions());
        Anchor an = g.anchor;
        int kvDim = c.kvDim();
        for (PassMerge.Run r : PassMerge.order(an == null ? new int[0] : an.positions, positions, g.start)) {
            if (r.source() == PassMerge.ANCHOR) {
                long off = (long) r.from() * kvDim * 4;
                context.appendDevice(an.act.k + off, an.act.v + off, an.act.pos + 4L * r.from(), r.rows(), an.positions, r.from());
            } else {
                context.appendRange(before.get(r.source()), r.from(), r.rows());
            }
        }
    }

    private void closeSegments() {
        for (Segment g : segments) g.close();
        for (Anchor an : anchors) an.close();
        segments.clear();
        anchors.clear();
    }

    @Override
    public void close() {
        closeSegments();
        out.close();
        earlier.close();
        context.close();
    }
}
