package dev.starattn.attention;

/**
 * Attention of {@code rows} query rows and {@code heads} heads over some set of keys: the
 * normalised output {@code out[(row * heads + head) * headDim + d]} and the log-sum-exp of the
 * scaled scores {@code lse[row * heads + head]} (natural log; {@code -Infinity} when the row saw
 * no key). Two partials over disjoint key sets merge exactly ({@link LseMerge}). {@code pairs}
 * counts the visible (query, key) pairs summed over heads: the work done, for accounting.
 */
public record Partial(int rows, int heads, int headDim, float[] out, float[] lse, long pairs) {
    public static Partial empty(int rows, int heads, int headDim) {
        float[] lse = new float[rows * heads];
        java.util.Arrays.fill(lse, Float.NEGATIVE_INFINITY);
        return new Partial(rows, heads, headDim, new float[rows * heads * headDim], lse, 0);
    }

    /** Bytes this partial takes on the wire in f32 (what a context host returns in phase 2). */
    public Partial withPairs(long p) {
        return new Partial(rows, heads, headDim, out, lse, p);
    }

    public long wireBytes() {
        return (long) (out.length + lse.length) * Float.BYTES;
    }
}
