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

    /** Tokens a prefill runs through the model at once. */
    public int prefillChunk() {
        return prefillChunk;
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
            SegmentEncoder.encode(new Shard(task.blocks()), name, stats, task.blocks(), progress);
        } finally {
            stats.phase1Nanos += System.nanoTime() - t0;
        }
    }

    /** This host's caches as a {@link SegmentEncoder.Device}, with the block cache's lookups. */
    private final class Shard implements SegmentEncoder.Device<KvCache> {
        private String key;  // the block cache's key of the segment being computed, or null
        /** Rows of the task's segments not yet kept: the shard is grown for all of them at once. */
        private long pendingRows;

        Shard(List<BlockTask> blocks) {
            for (BlockTask b : blocks) pendingRows += b.tokens().length;
        }

        @Override
        public KvCache[] fresh(int capacity) {
            // Room for phase 2 too: a segment that becomes the shard (keep) then takes the query and
            // generated tokens without growing, which copies every layer's cache.
            return freshCaches(capacity + DECODE_HEADROOM);
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
            for (int l = 0; l < shard.length; l++) {
                // The first segment of an empty shard is adopted, not copied: a copy was the size of the
                // whole KV cache again (at 8K context of the 125M model, 100 MiB that became garbage in the
                // old generation). The segment's caches are this host's from now on.
                if (from == 0 && shard[l].size() == 0 && local[l].size() == rows) {
                    shard[l] = local[l];
                } else {
                    // Grown once for every segment still to come and phase 2, not by half per segment (each
                    // growth left the superseded arrays as garbage).
                    shard[l].reserve((int) Math.min(Integer.MAX_VALUE, shard[l].size() + pendingRows + DECODE_HEADROOM));
                    shard[l].appendRange(local[l], from, rows);
                }
                // Dropped layer by layer, so that a collection during the copy frees the layers already kept.
                local[l] = null;
            }
            pendingRows -= rows;
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
                pendingRows -= b.tokens().length;
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
            }, true);  // the cache copies k and v, the attention reads q during its call only
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

    /** Rows of room a freshly encoded segment leaves for phase 2 (query and generated tokens) when it becomes the shard. */
    static final int DECODE_HEADROOM = 256;

    /** Makes room for {@code rows} more rows in this host's own shard, growing each layer's cache at most once. */
    void reserve(int rows) {
        for (KvCache kv : shard) kv.reserve(kv.size() + rows);
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
