package dev.starattn.attention;

import java.util.List;

/**
 * The exact merge of attention partials over disjoint key sets, by their log-sum-exp:
 * {@code lse = log(sum_i exp(lse_i))}, {@code out = sum_i exp(lse_i - lse) * out_i}. Computed
 * max-subtracted in fp32 (double for the weights' sum), in any order, for any number of
 * partials. Used by star phase 2, ring attention and split-KV decode.
 */
public final class LseMerge {
    private LseMerge() {}

    public static Partial merge(List<Partial> parts) {
        if (parts.isEmpty()) throw new IllegalArgumentException("nothing to merge");
        Partial first = parts.getFirst();
        if (parts.size() == 1) return first;
        int rows = first.rows(), heads = first.heads(), hd = first.headDim();
        for (Partial p : parts) {
            if (p.rows() != rows || p.heads() != heads || p.headDim() != hd) {
                throw new IllegalArgumentException("partials of different shapes cannot merge");
            }
        }
        float[] out = new float[rows * heads * hd];
        float[] lse = new float[rows * heads];
        int n = parts.size();
        double[] w = new double[n];
        for (int rh = 0; rh < rows * heads; rh++) {
            float m = Float.NEGATIVE_INFINITY;
            for (Partial p : parts) m = Math.max(m, p.lse()[rh]);
            if (m == Float.NEGATIVE_INFINITY) {
                lse[rh] = Float.NEGATIVE_INFINITY; // no partial saw a key: output stays 0
                continue;
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                w[i] = Math.exp(parts.get(i).lse()[rh] - m);
                sum += w[i];
            }
            lse[rh] = (float) (m + Math.log(sum));
            int base = rh * hd;
            for (int i = 0; i < n; i++) {
                float wi = (float) (w[i] / sum);
                if (wi == 0f) continue;
                float[] o = parts.get(i).out();
                for (int d = 0; d < hd; d++) out[base + d] += wi * o[base + d];
            }
        }
        long pairs = 0;
        for (Partial p : parts) pairs += p.pairs();
        return new Partial(rows, heads, hd, out, lse, pairs);
    }

    /**
     * Merges {@code next} into the running accumulator {@code acc} in place (online softmax,
     * as ring attention does when a KV block arrives). Both must have the same shape.
     */
    public static void mergeInto(Partial acc, Partial next) {
        int hd = acc.headDim();
        for (int rh = 0; rh < acc.rows() * acc.heads(); rh++) {
            float a = acc.lse()[rh], b = next.lse()[rh];
            if (b == Float.NEGATIVE_INFINITY) continue;
            int base = rh * hd;
            if (a == Float.NEGATIVE_INFINITY) {
                System.arraycopy(next.out(), base, acc.out(), base, hd);
                acc.lse()[rh] = b;
                continue;
            }
            float m = Math.max(a, b);
            double wa = Math.exp(a - m), wb = Math.exp(b - m);
            double s = wa + wb;
            float fa = (float) (wa / s), fb = (float) (wb / s);
            float[] ao = acc.out(), bo = next.out();
            for (int d = 0; d < hd; d++) ao[base + d] = fa * ao[base + d] + fb * bo[base + d];
            acc.lse()[rh] = (float) (m + Math.log(s));
        }
    }
}
