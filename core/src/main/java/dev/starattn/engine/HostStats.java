package dev.starattn.engine;

/**
 * What one context host did, per phase: its own compute time (what a cluster of machines would
 * see for that host), the FLOPs it computed and the bytes it sent and received.
 */
public final class HostStats {
    public final String name;
    public int blocks;
    public int tokens;
    public long phase1Nanos;
    public long phase2Nanos;
    /**
     * Phase-1 time this host spends waiting for other hosts' data between its own steps (star-pass: the earlier
     * hosts' passing rows of each layer), on top of {@link #phase1Nanos}: the two together are its critical path.
     */
    public long phase1WaitNanos;
    public long phase1LinearFlops;
    public long phase1AttentionFlops;
    public long phase2LinearFlops;
    public long phase2AttentionFlops;
    public long phase1BytesSent;
    public long phase1BytesReceived;
    public long phase2BytesSent;
    public long phase2BytesReceived;
    /**
     * Query host only: wall time of phase 2's gathers, each asking every host holding KV for its
     * attention partial of one layer and waiting for all of them (the per-layer round trip; for
     * remote hosts, their compute plus the network), summed over all layers and forward steps.
     */
    public long phase2GatherNanos;
    /** Query host only: how many gathers {@link #phase2GatherNanos} sums (layers x forward steps). */
    public long phase2Gathers;
    /** Star phase-1 blocks taken from the block cache (no FLOPs spent on them). */
    public int cacheHits;
    /** Star phase-1 blocks looked up in the block cache, not found, encoded and stored. */
    public int cacheMisses;

    public HostStats(String name) {
        this.name = name;
    }

    public long phase1Flops() {
        return phase1LinearFlops + phase1AttentionFlops;
    }

    public long phase2Flops() {
        return phase2LinearFlops + phase2AttentionFlops;
    }

    void resetPhase2() {
        phase2Nanos = 0;
        phase2LinearFlops = 0;
        phase2AttentionFlops = 0;
        phase2BytesSent = 0;
        phase2BytesReceived = 0;
        phase2GatherNanos = 0;
        phase2Gathers = 0;
    }
}
