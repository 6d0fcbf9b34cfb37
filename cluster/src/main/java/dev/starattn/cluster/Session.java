package dev.starattn.cluster;

import dev.starattn.attention.KvType;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.LocalContextHost;

/** One encoded context on a host. Guarded by its {@link SessionStore}. */
final class Session {
    final String id;
    final String hash;
    final LocalContextHost host;
    final KvType kvTypeK, kvTypeV;
    final long ttlNanos;
    long reservedBytes;
    long lastUsed;
    int inFlight;
    boolean ready;
    EncodeDone done;
    /** When the phase-2 stream last using it broke, or 0: the reaper frees it a grace after, unless it is used again. */
    long orphanedAt;

    Session(String id, String hash, LocalContextHost host, KvType kvTypeK, KvType kvTypeV, long ttlNanos, long reservedBytes) {
        this.id = id;
        this.hash = hash;
        this.host = host;
        this.kvTypeK = kvTypeK;
        this.kvTypeV = kvTypeV;
        this.ttlNanos = ttlNanos;
        this.reservedBytes = reservedBytes;
        this.lastUsed = System.nanoTime();
    }

    /** What a fresh encode (star or ring) reports about the session's host; callers add their own fields. */
    EncodeDone.Builder encodedStats() {
        HostStats st = host.stats();
        return EncodeDone.newBuilder()
                .setReused(false)
                .setBlocks(st.blocks)
                .setTokens(st.tokens)
                .setKvTokens(host.kvTokens())
                .setKvBytes(host.kvBytes())
                .setPhase1Nanos(st.phase1Nanos)
                .setLinearFlops(st.phase1LinearFlops)
                .setAttentionFlops(st.phase1AttentionFlops);
    }
}
