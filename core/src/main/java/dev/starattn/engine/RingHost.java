package dev.starattn.engine;

import dev.starattn.attention.AttentionBackends;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.LseMerge;
import dev.starattn.attention.Partial;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.Rope;
import java.util.Arrays;

/**
 * One host's side of Ring Attention phase 1, layer by layer: {@link #beginLayer} computes the
 * host's Q, K, V, appends its own K, V and attends to them; {@link #visit} merges the attention to
 * another host's KV block of the same layer (by log-sum-exp; skipped when the block lies wholly in
 * this host's causal future); {@link #endLayer} finishes the layer. The in-process ring
 * ({@link InferenceEngine}) and the networked ring (the cluster module's host server) both drive
 * this class, so the ring math exists once. Compute time is added to the host's phase-1 time.
 */
public final class RingHost {
    private final DecoderModel model;
    private final LocalContextHost host;
    private final int[] positions;
    private final int n;
    private final float[] x;
    private final Rope rope;
    private int layer = -1;
    private DecoderModel.Qkv qkv;
    private Partial acc;
    private long pairs;

    /** Embeds this host's tokens (at {@code positions}, which the KV will carry). */
    public RingHost(DecoderModel model, LocalContextHost host, int[] tokens, int[] positions) {
        if (tokens.length != positions.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + positions.length + " positions");
        }
        long s = System.nanoTime();
        this.model = model;
        this.host = host;
        this.positions = positions;
        this.n = positions.length;
        this.x = n == 0 ? null : model.embed(tokens, 0, n);
        this.rope = n == 0 ? null : new Rope(model.config(), positions, 0, n);
        host.stats().blocks = 1;
        host.stats().tokens = n;
        host.stats().phase1Nanos += System.nanoTime() - s;
    }

    public LocalContextHost host() {
        return host;
    }

    /**
     * Starts {@code layer}: Q, K, V of this host's rows, its own K, V appended to its shard, its
     * attention to them. Returns this host's KV block of the layer: what travels the ring.
     */
    public KvCache beginLayer(int layer) {
        if (layer != this.layer + 1) throw new IllegalStateException("layer " + layer + " after layer " + this.layer);
        this.layer = layer;
        pairs = 0;
        acc = null;
        if (n == 0) return host.cache(layer);
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        qkv = model.qkv(layer, x, n, rope);
        host.append(layer, qkv.k(), qkv.v(), n, positions, 0);
        acc = AttentionBackends.current().attend(qkv.q(), n, positions, c.heads(), host.cache(layer), model.attentionLimits(layer));
        pairs = acc.pairs();
        host.stats().phase1Nanos += System.nanoTime() - s;
        return host.cache(layer);
    }

    /**
     * Merges attention to another host's KV block of the current layer. Returns false when the
     * block was not used: it lies wholly in this host's causal future, or wholly outside the layer's
     * sliding window of every query here (it must still be passed on).
     */
    public boolean visit(KvCache block) {
        if (n == 0 || block.size() == 0 || !wanted(block.minPosition(), block.maxPosition())) return false;
        long s = System.nanoTime();
        Partial part = AttentionBackends.current().attend(qkv.q(), n, positions, model.config().heads(), block, model.attentionLimits(layer));
        pairs += part.pairs();
        LseMerge.mergeInto(acc, part);
        host.stats().phase1Nanos += System.nanoTime() - s;
        return true;
    }

    /**
     * Whether a block of keys at positions [kMin, kMax] of the current layer is seen by any query of
     * this host: not wholly in their causal future, nor wholly before every query's sliding window.
     */
    private boolean wanted(int kMin, int kMax) {
        if (n == 0) return false;
        KvCache own = host.cache(layer);
        return model.attentionLimits(layer).anyVisible(own.minPosition(), own.maxPosition(), kMin, kMax);
    }

    /** Finishes the current layer (output projection, residual, feed-forward). */
    public void endLayer() {
        long s = System.nanoTime();
        DecoderConfig c = model.config();
        host.addAttention(true, pairs);
        if (n > 0) {
            model.finishLayer(layer, x, n, Arrays.copyOf(acc.out(), n * c.qDim()));
            // linearFlopsPerToken covers all layers: count this layer's share.
            host.addLinear(true, (long) n * c.linearFlopsPerToken() / c.layers());
        }
        qkv = null;
        acc = null;
        host.stats().phase1Nanos += System.nanoTime() - s;
    }
}
