package dev.starattn.cuda;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.Partial;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.LlamaConfig;
import java.util.Arrays;
import java.util.List;

/**
 * A context host on a GPU: star phase 1 runs each block (after its anchor) through the
 * {@link CudaModel} with its KV kept on the device; ring phase 1 ({@link CudaRing}) leaves its share of
 * the ring's KV in the same caches; phase 2 serves attention partials (output and
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

    /** Drops every row after the first {@code tokens} of every layer (the query host forgets a query's KV). */
    synchronized void truncate(int tokens) {
        for (DeviceKv k : shard) k.truncate(tokens);
    }

    @Override
    public synchronized void encodeStar(List<BlockTask> blocks, ProgressListener progress) {
        long t0 = System.nanoTime();
        LlamaConfig c = model.config();
        DeviceKv[] anchorKv = null;
        int[] anchorTokensDone = null, anchorPosDone = null;
        int done = 0, tokens = 0;
        try {
            for (BlockTask b : blocks) {
                int anchorLen = b.anchorTokens().length;
                int len = b.tokens().length;
                DeviceKv[] local = model.newCaches(anchorLen + len);
                try {
                    if (anchorLen > 0) {
                        // The anchor attends only to itself: computed once per distinct anchor, then copied.
                        if (anchorKv == null || !Arrays.equals(anchorTokensDone, b.anchorTokens())
                                || !Arrays.equals(anchorPosDone, b.anchorPositions())) {
                            if (anchorKv != null) closeAll(anchorKv);
                            anchorKv = model.newCaches(anchorLen);
                            prefill(b.anchorTokens(), b.anchorPositions(), anchorKv);
                            anchorTokensDone = b.anchorTokens();
                            anchorPosDone = b.anchorPositions();
                        }
                        for (int l = 0; l < c.layers(); l++) local[l].appendRange(anchorKv[l], 0, anchorLen);
                    }
                    prefill(b.tokens(), b.positions(), local);
                    for (int l = 0; l < c.layers(); l++) shard[l].appendRange(local[l], anchorLen, len);
                } finally {
                    closeAll(local);
                }
                stats.blocks++;
                stats.tokens += len;
                tokens += len;
                progress.blockDone(name, ++done, blocks.size(), tokens);
            }
        } finally {
            if (anchorKv != null) closeAll(anchorKv);
            model.device().synchronize();
            stats.phase1Nanos += System.nanoTime() - t0;
        }
    }

    /**
     * Ring phase 1 with the other GPU hosts of {@code ring} (all {@link CudaContextHost}s of this process), as
     * {@code InferenceEngine} runs it over hosts that are not in its process (the query host on the CPU holds no
     * context then): the engine calls this on every host at once; the calls meet in {@link CudaRing#join} and
     * one {@link CudaRing#encode} runs the whole ring. Returns when it is done.
     */
    @Override
    public void encodeRing(String ringId, int index, List<? extends ContextHost> ring, int[] tokens, int[] positions, ProgressListener progress) {
        CudaRing.join(ringId, index, ring, tokens, positions, progress);
    }

    private void prefill(int[] tokens, int[] positions, DeviceKv[] caches) {
        LlamaConfig c = model.config();
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
