package dev.starattn.attention;

/**
 * Attention under {@link AttentionLimits} (sliding window, score soft-cap): a plain kernel, one
 * (query row, head) at a time, scores and softmax in double. Gemma's layers run here; the tiled
 * {@link AttentionKernel} serves the unlimited case. Its output is a {@link Partial} like the
 * kernel's, so windowed partials merge with {@link LseMerge} as any others.
 */
final class LimitedAttention {
    private LimitedAttention() {}

    static Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1, AttentionLimits lim) {
        int hd = kv.headDim(), kvHeads = kv.kvHeads();
        if (heads % kvHeads != 0) throw new IllegalArgumentException(heads + " query heads do not group over " + kvHeads + " kv heads");
        Partial result = Partial.empty(rows, heads, hd);
        if (rows == 0 || k1 <= k0) return result;
        int group = heads / kvHeads;
        int n = k1 - k0;
        float[] keys = kv.keysF32(k0, n), values = kv.valuesF32(k0, n);
        int[] kPos = kv.positions();
        int rowSize = kvHeads * hd;
        double scale = 1 / Math.sqrt(hd);
        double cap = lim.softcap();
        float[] out = result.out(), lse = result.lse();
        long pairs = 0;
        double[] s = new double[n];
        double[] acc = new double[hd];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int g = h / group, qOff = (r * heads + h) * hd;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    if (!lim.visible(qPos[r], kPos[k0 + j])) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    int kOff = j * rowSize + g * hd;
                    for (int d = 0; d < hd; d++) dot += (double) q[qOff + d] * keys[kOff + d];
                    double sc = dot * scale;
                    if (cap != 0) sc = cap * Math.tanh(sc / cap);
                    s[j] = sc;
                    max = Math.max(max, sc);
                    pairs++;
                }
                if (max == Double.NEGATIVE_INFINITY) continue;   // no visible key: the empty partial's -inf LSE
                java.util.Arrays.fill(acc, 0);
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    if (s[j] == Double.NEGATIVE_INFINITY) continue;
                    double p = Math.exp(s[j] - max);
                    sum += p;
                    int vOff = j * rowSize + g * hd;
                    for (int d = 0; d < hd; d++) acc[d] += p * values[vOff + d];
                }
                for (int d = 0; d < hd; d++) out[qOff + d] = (float) (acc[d] / sum);
                lse[r * heads + h] = (float) (max + Math.log(sum));
            }
        }
        return result.withPairs(pairs);
    }
}
