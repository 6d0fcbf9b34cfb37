package dev.starattn.engine;

import java.util.List;

/**
 * Encodes a host's segments ({@link BlockTask}) into its own KV, whatever holds that KV ({@link Device}: this JVM's
 * caches, a GPU's): each segment is prefilled after its prefix with ordinary causal attention, and only the
 * segment's rows are kept. A prefix attends only to itself, so its KV is the same for every segment with the same
 * prefix tokens at the same positions: it is computed once per distinct prefix, and copied when consecutive
 * segments share it (otherwise computed in the segment's own caches).
 */
public final class SegmentEncoder {
    private SegmentEncoder() {}

    /** Where a host keeps KV: per-layer caches of type {@code C}. */
    public interface Device<C> {
        /** Empty per-layer caches with room for {@code capacity} rows. */
        C[] fresh(int capacity);

        /** Fresh per-layer caches holding {@code prefix}'s {@code rows} rows, with room for {@code more}. */
        C[] copyOf(C[] prefix, int rows, int more);

        /** Runs {@code tokens} at {@code positions} through the model with causal attention over {@code caches}, appending to them. */
        void prefill(int[] tokens, int[] positions, C[] caches);

        /**
         * Appends rows {@code [from, from + rows)} of {@code local} to the host's own KV. Nothing reads {@code local}
         * after this but {@link #free}: a device may take its caches over or drop them as it goes.
         */
        void keep(C[] local, int from, int rows);

        /** Frees caches made by {@link #fresh} or {@link #copyOf} (no-op where memory is collected). */
        default void free(C[] caches) {}

        /** Appends the segment's KV from a cache when it holds it; true then (nothing is computed). */
        default boolean fromCache(BlockTask b) {
            return false;
        }

        /** A segment just computed: its rows {@code [from, from + b.tokens().length)} of {@code local} may be cached. */
        default void toCache(BlockTask b, C[] local, int from) {}
    }

    /**
     * Encodes {@code blocks} in order, counting each in {@code stats} (blocks, tokens) and telling {@code progress}
     * as host {@code name}. Phase-1 time is the caller's to measure (a GPU's includes its final synchronization).
     */
    public static <C> void encode(Device<C> d, String name, HostStats stats, List<BlockTask> blocks, ProgressListener progress) {
        C[] prefixKv = null;
        BlockTask prefixOf = null;  // the block whose anchor prefixKv holds
        int done = 0, tokens = 0;
        try {
            for (int i = 0; i < blocks.size(); i++) {
                BlockTask b = blocks.get(i);
                int len = b.tokens().length;
                if (!d.fromCache(b)) {
                    int prefixLen = b.anchorTokens().length;
                    C[] local;
                    if (prefixLen == 0) {
                        local = d.fresh(len);
                    } else if (prefixKv != null && b.sameAnchor(prefixOf)) {
                        local = d.copyOf(prefixKv, prefixLen, len);
                    } else {
                        if (prefixKv != null) d.free(prefixKv);
                        prefixKv = null;
                        if (i + 1 < blocks.size() && blocks.get(i + 1).sameAnchor(b)) {
                            prefixKv = prefilled(d, b, prefixLen);
                            prefixOf = b;
                            local = d.copyOf(prefixKv, prefixLen, len);
                        } else {
                            // No later block shares this anchor: it is computed in the block's own caches, not kept
                            // apart and copied (with one block a host, the copy was the anchor's KV again, all layers).
                            local = prefilled(d, b, prefixLen + len);
                        }
                    }
                    try {
                        d.prefill(b.tokens(), b.positions(), local);
                        d.toCache(b, local, prefixLen);
                        d.keep(local, prefixLen, len);
                    } finally {
                        d.free(local);
                    }
                }
                stats.blocks++;
                stats.tokens += len;
                tokens += len;
                progress.blockDone(name, ++done, blocks.size(), tokens);
            }
        } finally {
            if (prefixKv != null) d.free(prefixKv);
        }
    }

    /** Fresh caches with room for {@code capacity} rows holding {@code b}'s anchor, prefilled. */
    private static <C> C[] prefilled(Device<C> d, BlockTask b, int capacity) {
        C[] fresh = d.fresh(capacity);
        try {
            d.prefill(b.anchorTokens(), b.anchorPositions(), fresh);
        } catch (RuntimeException | Error e) {
            d.free(fresh);
            throw e;
        }
        return fresh;
    }
}
