package dev.starattn.attention;

/**
 * The attention kernel the engine's CPU hosts run (star phase 1 per block and phase 2 per shard,
 * ring steps, dense and decode): queries at arbitrary position ids against a {@link KvCache},
 * causal by position, grouped-query heads, with the log-sum-exp per query row and head (a
 * {@link Partial}) so that results over disjoint key sets merge exactly ({@link LseMerge}). Decode
 * is the same call with one query row. The CPU implementation is the Vector API kernel
 * ({@link AttentionKernel}); {@link AttentionBackends} chooses, and another implementation is found
 * through {@link java.util.ServiceLoader} as a {@link Provider}.
 */
public interface AttentionBackend {
    /** One line for logs and benchmark output. */
    String describe();

    /**
     * Attention of {@code rows} query rows (row r at {@code q[r * heads * headDim ..]}, position
     * {@code qPos[r]}) over keys [k0, k1) of {@code kv}; throws IllegalArgumentException when
     * {@code heads} does not group over the cache's KV heads.
     */
    Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1);

    /** As {@link #attend(float[], int, int[], int, KvCache, int, int)} over every key of {@code kv}. */
    default Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv) {
        return attend(q, rows, qPos, heads, kv, 0, kv.size());
    }

    /**
     * As {@link #attend(float[], int, int[], int, KvCache, int, int)} under a layer's
     * {@link AttentionLimits} (sliding window, score soft-cap); without limits, that method.
     */
    default Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1, AttentionLimits limits) {
        if (limits.none()) return attend(q, rows, qPos, heads, kv, k0, k1);
        return LimitedAttention.attend(q, rows, qPos, heads, kv, k0, k1, limits);
    }

    /** As above over every key of {@code kv}. */
    default Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, AttentionLimits limits) {
        return attend(q, rows, qPos, heads, kv, 0, kv.size(), limits);
    }

    /** How a backend is found on the class path ({@code META-INF/services/dev.starattn.attention.AttentionBackend$Provider}). */
    interface Provider {
        /** The name {@code -Dstarattn.attention} selects it by. */
        String name();

        /** Loads the backend; throws with a readable message when it cannot. */
        AttentionBackend open() throws Exception;
    }
}
