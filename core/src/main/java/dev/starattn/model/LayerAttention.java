package dev.starattn.model;

/**
 * What the attention step of a layer does with one chunk's queries, keys and values: the point
 * where dense, star and ring attention differ. Implementations usually append the keys and
 * values to a host's cache and attend, locally or across hosts.
 */
@FunctionalInterface
public interface LayerAttention {
    /**
     * @param q   {@code n} rows of {@code heads * headDim}, RoPE applied
     * @param k   {@code n} rows of {@code kvHeads * headDim}, RoPE applied
     * @param v   {@code n} rows of {@code kvHeads * headDim}
     * @param pos position ids of the rows: {@code pos[posOffset + i]}
     * @param out receives {@code n} rows of {@code heads * headDim}
     */
    void attend(int layer, float[] q, float[] k, float[] v, int n, int[] pos, int posOffset, float[] out);
}
