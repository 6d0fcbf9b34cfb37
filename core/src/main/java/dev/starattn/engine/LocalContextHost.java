package dev.starattn.engine;

import dev.starattn.attention.AttentionBackends;
import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.KvType;
import dev.starattn.attention.Partial;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.Arrays;
import java.util.List;

/**
 * A context host in this JVM: its own KV shard per layer, sharing the (memory-mapped) model
 * weights with the other in-process hosts. Compute time is measured per host, so the slowest
 * host's time is what a cluster of separate machines would see.
 */
public final class LocalContextHost implements ContextHost {
    private final String name;
    private final DecoderModel model;
    private final int prefillChunk;
    private final KvCache[] shard;
    private final HostStats stats;

    private final KvType kvTypeK;
    private final KvType kvTypeV;
    private final BlockCache blockCache;

    public LocalContextHost(String name, DecoderModel model, int prefillChunk) {
        this(name, model, prefillChunk, KvType.F32);
    }

    public LocalContextHost(String name, DecoderModel model, int prefillChunk, KvType kvType) {
        this(name, model, prefillChunk, kvType, kvType, null);
    }

    /**
     * A host storing keys as {@code kvTypeK} and values as {@code kvTypeV}, taking star blocks from
     * {@code blockCache} when it holds them (null: no cache).
     */
    public LocalContextHost(String name, DecoderModel model, int prefillChunk, KvType kvTypeK, KvType kvTypeV, BlockCache blockCache) {
        this.name = name;
        this.model = model;
        this.prefillChunk = prefillChunk;
        this.kvTypeK = kvTypeK;
        this.kvTypeV = kvTypeV;
        this.blockCache = blockCache;
        DecoderConfig c = model.config();
        this.shard = new KvCache[c.layers()];
        for (int l = 0; l < c.layers(); l++) shard[l] = new KvCache(c.kvHeads(), c.headDim(), 256, kvTypeK, kvTypeV);
        this.stats = new HostStats(name);
    }

    /** The block cache this host takes blocks from, or null. */
    public BlockCache blockCache() {
        return blockCache;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public HostStats stats() {
        return stats;
    }

    /** The model this host runs (the ring strategy drives it through {@link RingHost}). */
    public DecoderModel model() {
        return model;
    }

    public KvCache cache(int layer) {
        return shard[layer];
    }

    /** Why phase 1 is to stop ({@link #cancelEncode}), or null. */
    private volatile String cancelled;

    @Override
    public void cancelEncode(String why) {
        cancelled = why;
    }

    @Override
    public void resetCancel() {
        cancelled = null;
    }

    private void checkCancelled() {
        String why = cancelled;
        if (why != null) throw new java.util.concurrent.CancellationException(why);
    }

    /**
     * Phase 1: the task's segments, each after its prefix ({@link SegmentEncoder}), taking segments from the block
     * cache when it holds them. A ring share is encoded by the ring strategy through {@link RingHost}: in-process
     * hosts exchange KV blocks through their caller, not on their own.
     */
    @Override
    public void encode(EncodeTask task, ProgressListener progress) {
        if (task.ring() != null) {
            throw new UnsupportedOperationException("context host " + name + " in this process takes part in a ring through RingHost, not on its own");
        }
        long t0 = System.nanoTime();
        try {
            SegmentEncoder.encode(new Shard(), name, stats, task.blocks(), progress);
        } finally {
            stats.phase1Nanos += System.nanoTime() - t0;
        }
    }

    /** This host's caches as a {@link SegmentEncoder.Device}, with the block cache's lookups. */
    private final class Shard implements SegmentEncoder.Device<KvCache> {
        private String key;  // the block cache's key of the segment being computed, or null

        @Override
        public KvCache[] fresh(int capacity) {
            return freshCaches(capacity);
        }

        @Override
        public KvCache[] copyOf(KvCache[] prefix, int rows, int more) {
            KvCache[] out = new KvCache[prefix.length];
            for (int l = 0; l < out.length; l++) out[l] = prefix[l].copy(more);
            return out;
        }

        @Override
        public void prefill(int[] tokens, int[] positions, KvCache[] caches) {
            LocalContextHost.this.prefill(tokens, positions, caches, true);
        }

        @Override
        public void keep(KvCache[] local, int from, int rows) {
            for (int l = 0; l < shard.length; l++) shard[l].appendRange(local[l], from, rows);
        }

        @Override
        public boolean fromCache(BlockTask b) {
            checkCancelled();  // between blocks too: a block served from the cache runs no layer that would check
            key = null;
            if (blockCache == null) return false;
            DecoderConfig c = model.config();
            String k = blockCache.key(b, kvTypeK, kvTypeV);
            KvCache[] hit = blockCache.get(k, c.layers(), c.kvHeads(), c.headDim(), kvTypeK, kvTypeV);
            if (hit != null && hit[0].size() == b.tokens().length) {
                // The block's KV is exactly what encoding it again would give: no FLOPs spent.
                for (int l = 0; l < c.layers(); l++) shard[l].appendAll(hit[l]);
                stats.cacheHits++;
                return true;
            }
            stats.cacheMisses++;
            key = k;
            return false;
        }

        @Override
        public void toCache(BlockTask b, KvCache[] local, int from) {
            if (key == null) return;
            KvCache[] own = new KvCache[local.length];
            for (int l = 0; l < own.length; l++) own[l] = local[l].slice(from, b.tokens().length);
            blockCache.put(key, own);
            key = null;
        }
    }

    /**
     * Runs tokens through the model in chunks with ordinary causal attention over {@code caches}
     * (appending to them) and returns the final hidden state of the last token.
     */
    float[] prefill(int[] tokens, int[] positions, KvCache[] caches, boolean phase1) {
        DecoderConfig c = model.config();
        int n = tokens.length;
        for (KvCache kv : caches) kv.reserve(kv.size() + n);
        float[] last = null;
        for (int off = 0; off < n; off += prefillChunk) {
            int len = Math.min(prefillChunk, n - off);
            float[] x = model.forward(tokens, positions, off, len, (layer, q, k, v, rows, pos, posOff, out) -> {
                if (phase1) checkCancelled();  // another host failed: stop within a layer, not after the whole block
                KvCache kv = caches[layer];
                kv.append(k, v, 0, rows, pos, posOff);
                Partial p = AttentionBackends.current().attend(q, rows, Arrays.copyOfRange(pos, posOff, posOff + rows), c.heads(), kv,
                        model.attentionLimits(layer));
                System.arraycopy(p.out(), 0, out, 0, rows * c.qDim());
                addAttention(phase1, p.pairs());
            });
            addLinear(phase1, (long) len * c.linearFlopsPerToken());
            last = Arrays.copyOfRange(x, (len - 1) * c.dim(), len * c.dim());
        }
        return last;
    }

    void addLinear(boolean phase1, long flops) {
        if (phase1) stats.phase1LinearFlops += flops;
        else stats.phase2LinearFlops += flops;
    }

    void addAttention(boolean phase1, long pairs) {
        long f = AttentionKernel.flops(pairs, 1, model.config().headDim());
        if (phase1) stats.phase1AttentionFlops += f;
        else stats.phase2AttentionFlops += f;
    }

    KvCache[] freshCaches(int capacity) {
        DecoderConfig c = model.config();
        KvCache[] k = new KvCache[c.layers()];
        for (int l = 0; l < c.layers(); l++) k[l] = new KvCache(c.kvHeads(), c.headDim(), capacity, kvTypeK, kvTypeV);
        return k;
    }

    /** Appends rows to this host's own shard (dense prefill, ring, and the query host in phase 2). */
    void append(int layer, float[] k, float[] v, int rows, int[] pos, int posOff) {
        shard[layer].append(k, v, 0, rows, pos, posOff);
    }

    @Override
    public Partial attend(int layer, float[] q, int rows, int[] qPos) {
        long t0 = System.nanoTime();
        Partial p = AttentionBackends.current().attend(q, rows, qPos, model.config().heads(), shard[layer], model.attentionLimits(layer));
        addAttention(false, p.pairs());
        stats.phase2Nanos += System.nanoTime() - t0;
        return p;
    }

    @Override
    public int kvTokens() {
        return shard[0].size();
    }

    @Override
    public int[] keyPositionRange() {
        return shard[0].size() == 0 ? null : new int[] {shard[0].minPosition(), shard[0].maxPosition()};
    }

    @Override
    public long kvBytes() {
        long b = 0;
        for (KvCache k : shard) b += k.bytes();
        return b;
    }

    /** Drops KV rows beyond {@code tokens} in every layer (forgets a query, keeps the context). */
    void truncate(int tokens) {
        for (KvCache k : shard) k.truncate(tokens);
    }

    @Override
    public void clear() {
        truncate(0);
    }
}
