package dev.starattn.cuda;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.Partial;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SegmentEncoder;
import dev.starattn.model.DecoderConfig;
import java.util.Arrays;

/**
 * A context host on a GPU: star phase 1 runs each block (after its anchor) through the
 * {@link CudaModel} with its KV kept on the device; ring phase 1 ({@link CudaRing}) leaves its share of
 * the ring's KV in the same caches, star-pass phase 1 ({@link CudaPass}) its blocks'; phase 2 serves attention partials (output and
 * log-sum-exp) of the query rows over that KV. Several hosts may share one GPU and one model
 * (logical hosts), or each sit on its own GPU.
 */
public final class CudaContextHost implements ContextHost, AutoCloseable {
    private final String name;
    private final CudaModel model;
    private final int prefillChunk;
    private final DeviceKv[] shard;
    private final HostStats stats;

    public CudaContextHost(String name, CudaModel model, int prefillChunk) {
        this.name = name;
        this.model = model;
        this.prefillChunk = Math.max(1, prefillChunk);
        this.shard = model.newCaches(256);
        this.stats = new HostStats(name);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public HostStats stats() {
        return stats;
    }

    public DeviceKv cache(int layer) {
        return shard[layer];
    }

    /** The model (and so the GPU) this host runs on; {@link CudaStarQuery} attends over {@link #cache} with its attention. */
    CudaModel model() {
        return model;
    }

    /**
     * Sizes this host's caches for {@code tokens} rows of every layer at once (its share of the context, plus the query
     * and new tokens on the query host), instead of growing them by doubling past the share; fails in one sentence
     * naming the memory needed when the GPU has not that much free. Rows already held stay.
     */
    public synchronized void reserve(int tokens) {
        DecoderConfig c = model.config();
        long more = 0;
        for (DeviceKv k : shard) more += Math.max(0, k.kvBytesFor(tokens) - k.kvBytesFor(k.capacity)) + 4L * Math.max(0, tokens - k.capacity);
        if (more == 0) return;
        model.device().requireFree(more, String.format("host %s's KV cache for its share of %d tokens (%d layers x %d kv heads x %d dims, bf16)",
                name, tokens, c.layers(), c.kvHeads(), c.headDim()));
        for (DeviceKv k : shard) k.reserve(tokens);
    }

    /** Drops every row after the first {@code tokens} of every layer (the query host forgets a query's KV). */
    synchronized void truncate(int tokens) {
        for (DeviceKv k : shard) k.truncate(tokens);
    }

    /**
     * Phase 1: the task's segments after their prefixes ({@link SegmentEncoder}), their KV kept on the device; or,
     * for a ring share, a place in the ring over the other GPU hosts of {@code task.ring()} (all
     * {@link CudaContextHost}s of this process): the strategy starts every member at once; the calls meet in
     * {@link CudaRing#join} and one {@link CudaRing#encode} runs the whole ring; or, for a star-pass member, likewise
     * through {@link CudaPass}. Returns when it is done.
     */
    @Override
    public void encode(EncodeTask task, ProgressListener progress) {
        if (task.ring() != null) {
            BlockTask share = task.blocks().getFirst();
            CudaRing.join(task.ring().ringId(), task.ring().index(), task.ring().members(), share.tokens(), share.positions(), progress);
            return;
        }
        if (task.pass() != null) {
            CudaPass.join(task.pass(), task.blocks(), progress);
            return;
        }
        synchronized (this) {
            // The share's rows at once, exactly: a clear error naming the memory now rather than a failed doubling later.
            long rows = shard[0].size();
            for (BlockTask b : task.blocks()) rows += b.tokens().length;
            reserve((int) Math.min(Integer.MAX_VALUE, rows));
            long t0 = System.nanoTime();
            try {
                SegmentEncoder.encode(new Shard(), name, stats, task.blocks(), progress);
            } finally {
                model.device().synchronize();
                stats.phase1Nanos += System.nanoTime() - t0;
            }
        }
    }

    /** This host's device caches as a {@link SegmentEncoder.Device}. */
    private final class Shard implements SegmentEncoder.Device<DeviceKv> {
        @Override
        public DeviceKv[] fresh(int capacity) {
            return model.newCaches(capacity);
        }

        @Override
        public DeviceKv[] copyOf(DeviceKv[] prefix, int rows, int more) {
            DeviceKv[] out = model.newCaches(rows + more);
            try {
                for (int l = 0; l < out.length; l++) out[l].appendRange(prefix[l], 0, rows);
            } catch (RuntimeException | Error e) {
                closeAll(out);
                throw e;
            }
            return out;
        }

        @Override
        public void prefill(int[] tokens, int[] positions, DeviceKv[] caches) {
            CudaContextHost.this.prefill(tokens, positions, caches);
        }

        @Override
        public void keep(DeviceKv[] local, int from, int rows) {
            for (int l = 0; l < shard.length; l++) shard[l].appendRange(local[l], from, rows);
        }

        @Override
        public void free(DeviceKv[] caches) {
            closeAll(caches);
        }
    }

    private void prefill(int[] tokens, int[] positions, DeviceKv[] caches) {
        DecoderConfig c = model.config();
        for (int off = 0; off < tokens.length; off += prefillChunk) {
            int len = Math.min(prefillChunk, tokens.length - off);
            int before = caches[0].size();
            model.forward(tokens, positions, off, len, caches, false);
            stats.phase1LinearFlops += (long) len * c.linearFlopsPerToken();
            long pairs = caches[0].visiblePairs(Arrays.copyOfRange(positions, off, off + len), 0, before + len) * c.heads();
            stats.phase1AttentionFlops += AttentionKernel.flops(pairs, 1, c.headDim());
        }
    }

    @Override
    public synchronized Partial attend(int layer, float[] q, int rows, int[] qPos) {
        long t0 = System.nanoTime();
        Partial p = model.attention().attend(q, rows, qPos, model.config().heads(), shard[layer]);
        stats.phase2AttentionFlops += AttentionKernel.flops(p.pairs(), 1, model.config().headDim());
        stats.phase2Nanos += System.nanoTime() - t0;
        return p;
    }

    /** Hosts on one GPU take turns; hosts on different GPUs work at the same time. */
    @Override
    public String processor() {
        return "cuda:" + model.device().ordinal();
    }

    @Override
    public int kvTokens() {
        return shard[0].size();
    }

    @Override
    public long kvBytes() {
        long b = 0;
        for (DeviceKv k : shard) b += k.bytes();
        return b;
    }

    @Override
    public synchronized void clear() {
        for (DeviceKv k : shard) k.truncate(0);
    }

    private static void closeAll(DeviceKv[] kv) {
        for (DeviceKv k : kv) k.close();
    }

    @Override
    public synchronized void close() {
        closeAll(shard);
    }
}
