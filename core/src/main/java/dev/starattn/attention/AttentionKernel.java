package dev.starattn.attention;

import dev.starattn.cpu.Parallel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Flash-style tiled attention on the CPU: queries at arbitrary position ids against a
 * {@link KvCache} at arbitrary position ids, causal by position (a key is visible to a query iff
 * {@code keyPos <= queryPos}), grouped-query heads, returning the output and the log-sum-exp per
 * query row and head (a {@link Partial}) so that results over disjoint key sets merge exactly.
 *
 * <p>Per (head, tile of {@value #BQ} query rows) the key tiles of {@value #BK} keys are streamed
 * with the online softmax (FlashAttention, Dao et al. 2022): running max {@code m}, running sum
 * {@code l}, unnormalised accumulator. A key tile is transposed once so that scores of 16 keys
 * come out of one vector FMA per head dimension, with no horizontal reductions; tiles wholly in
 * the causal future of a query tile are skipped. Few query rows against many keys (decode, star
 * phase 2) split the keys into chunks processed in parallel and merged by {@link LseMerge}.
 */
public final class AttentionKernel {
    private AttentionKernel() {}

    static final int BQ = 16;
    static final int BK = 64;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Below this many keys per chunk, splitting the KV for decode is not worth it. */
    private static final int SPLIT_KV_MIN_CHUNK = 1024;

    /**
     * Attention of {@code rows} query rows (row r at {@code q[r * heads * headDim ..]}, position
     * {@code qPos[r]}) over every key of {@code kv}.
     */
    public static Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv) {
        return attend(q, rows, qPos, heads, kv, 0, kv.size());
    }

    /** As {@link #attend(float[], int, int[], int, KvCache)} over keys [k0, k1) of {@code kv} only. */
    public static Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1) {
        int hd = kv.headDim();
        if (heads % kv.kvHeads() != 0) {
            throw new IllegalArgumentException(heads + " query heads do not group over " + kv.kvHeads() + " kv heads");
        }
        Partial result = Partial.empty(rows, heads, hd);
        if (rows == 0 || k1 <= k0) return result;
        float scale = (float) (1.0 / Math.sqrt(hd));
        int qTiles = (rows + BQ - 1) / BQ;
        int keys = k1 - k0;
        int chunks = 1;
        if (qTiles * heads < 2 * Parallel.threads() && keys >= 2 * SPLIT_KV_MIN_CHUNK) {
            chunks = Math.min(Math.max(1, keys / SPLIT_KV_MIN_CHUNK), Math.max(2, 2 * Parallel.threads()));
        }
        LongAdder pairs = new LongAdder();
        if (chunks == 1) {
            Parallel.forRange(heads * qTiles, 1, (from, to) -> {
                Scratch s = Scratch.get(hd);
                long n = 0;
                for (int item = from; item < to; item++) {
                    int h = item % heads, t = item / heads;
                    n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, k0, k1, scale,
                            result.out(), result.lse(), s);
                }
                pairs.add(n);
            });
            return result.withPairs(pairs.sum());
        }
        // Split-KV: each chunk of keys yields a partial; merge them exactly.
        List<Partial> parts = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) parts.add(Partial.empty(rows, heads, hd));
        final int nChunks = chunks;
        Parallel.forRange(heads * qTiles * chunks, 1, (from, to) -> {
            Scratch s = Scratch.get(hd);
            long n = 0;
            for (int item = from; item < to; item++) {
                int c = item % nChunks, rest = item / nChunks;
                int h = rest % heads, t = rest / heads;
                int ks = k0 + (int) ((long) keys * c / nChunks), ke = k0 + (int) ((long) keys * (c + 1) / nChunks);
                Partial p = parts.get(c);
                n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, ks, ke, scale, p.out(), p.lse(), s);
            }
            pairs.add(n);
        });
        return LseMerge.merge(parts).withPairs(pairs.sum());
    }

    /** Per-thread buffers, sized for one head dimension. */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> LOCAL = new ThreadLocal<>();
        final int hd;
        final float[] kt;      // [hd][BK] transposed key tile
        final float[] scores;  // [BQ][BK]
        final float[] acc;     // [BQ][hd]
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];

        Scratch(int hd) {
            this.hd = hd;
            kt = new float[hd * BK];
            scores = new float[BQ * BK];
            acc = new float[BQ * hd];
        }

        static Scratch get(int hd) {
            Scratch s = LOCAL.get();
            if (s == null || s.hd != hd) {
                s = new Scratch(hd);
                LOCAL.set(s);
            }
            return s;
        }
    }

    /** Returns the number of visible (query, key) pairs processed. */
    private static long tile(float[] q, int[] qPos, int heads, int hd, int h, int r0, int r1, KvCache kv,
                             int k0, int k1, float scale, float[] out, float[] lse, Scratch s) {
        int nq = r1 - r0;
        int qStride = heads * hd;
        int group = heads / kv.kvHeads();
        int kvh = h / group;
        int kvStride = kv.kvHeads() * hd;
        float[] keys = kv.keys(), values = kv.values();
        int[] kPos = kv.positions();
        int qMax = Integer.MIN_VALUE, qMin = Integer.MAX_VALUE;
        for (int r = r0; r < r1; r++) {
            qMax = Math.max(qMax, qPos[r]);
            qMin = Math.min(qMin, qPos[r]);
        }
        float[] m = s.m, l = s.l, acc = s.acc, kt = s.kt, sc = s.scores;
        java.util.Arrays.fill(m, 0, nq, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(l, 0, nq, 0f);
        java.util.Arrays.fill(acc, 0, nq * hd, 0f);
        long visible = 0;

        for (int kb = k0; kb < k1; kb += BK) {
            int nk = Math.min(BK, k1 - kb);
            int tMin = Integer.MAX_VALUE, tMax = Integer.MIN_VALUE;
            for (int j = 0; j < nk; j++) {
                int p = kPos[kb + j];
                tMin = Math.min(tMin, p);
                tMax = Math.max(tMax, p);
            }
            if (tMin > qMax) continue; // the whole key tile lies in the causal future of every query
            boolean needMask = tMax > qMin;
            if (!needMask) visible += (long) nq * nk;
            // Transpose the key tile: kt[d * BK + j] = K[kb + j][kvh][d]; pad unused columns with 0.
            int kOff = kb * kvStride + kvh * hd;
            for (int j = 0; j < nk; j++) {
                int src = kOff + j * kvStride;
                for (int d = 0; d < hd; d++) kt[d * BK + j] = keys[src + d];
            }
            if (nk < BK) {
                for (int d = 0; d < hd; d++) java.util.Arrays.fill(kt, d * BK + nk, d * BK + BK, 0f);
            }
            // Scores: sc[i][j] = scale * q_i . k_j, 16 keys per vector.
            for (int i = 0; i < nq; i++) {
                int qOff = (r0 + i) * qStride + h * hd;
                for (int jb = 0; jb < BK; jb += S.length()) {
                    FloatVector a = FloatVector.zero(S);
                    for (int d = 0; d < hd; d++) {
                        a = FloatVector.fromArray(S, kt, d * BK + jb).fma(FloatVector.broadcast(S, q[qOff + d]), a);
                    }
                    a.mul(scale).intoArray(sc, i * BK + jb);
                }
            }
            // Online softmax update and P.V per query row.
            for (int i = 0; i < nq; i++) {
                int qp = qPos[r0 + i];
                int rowOff = i * BK;
                float rowMax = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < nk; j++) {
                    if (needMask && kPos[kb + j] > qp) {
                        sc[rowOff + j] = Float.NEGATIVE_INFINITY;
                    } else {
                        if (needMask) visible++;
                        if (sc[rowOff + j] > rowMax) rowMax = sc[rowOff + j];
                    }
                }
                if (rowMax == Float.NEGATIVE_INFINITY) continue; // no visible key in this tile
                float mNew = Math.max(m[i], rowMax);
                float corr = (float) Math.exp(m[i] - mNew);
                float sum = 0f;
                for (int j = 0; j < nk; j++) {
                    float p = sc[rowOff + j] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(sc[rowOff + j] - mNew);
                    sc[rowOff + j] = p;
                    sum += p;
                }
                l[i] = l[i] * corr + sum;
                m[i] = mNew;
                int aOff = i * hd;
                if (corr != 1f) scaleRow(acc, aOff, hd, corr);
                int vOff = kb * kvStride + kvh * hd;
                for (int j = 0; j < nk; j++) {
                    float p = sc[rowOff + j];
                    if (p == 0f) continue;
                    axpy(p, values, vOff + j * kvStride, acc, aOff, hd);
                }
            }
        }
        for (int i = 0; i < nq; i++) {
            int oOff = (r0 + i) * qStride + h * hd;
            int lIdx = (r0 + i) * heads + h;
            if (l[i] == 0f) {
                lse[lIdx] = Float.NEGATIVE_INFINITY;
                java.util.Arrays.fill(out, oOff, oOff + hd, 0f);
                continue;
            }
            float inv = 1f / l[i];
            for (int d = 0; d < hd; d++) out[oOff + d] = acc[i * hd + d] * inv;
            lse[lIdx] = m[i] + (float) Math.log(l[i]);
        }
        return visible;
    }

    private static void scaleRow(float[] a, int off, int n, float f) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector.fromArray(S, a, off + i).mul(f).intoArray(a, off + i);
        }
        for (; i < n; i++) a[off + i] *= f;
    }

    private static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    /** FLOPs of attention for {@code pairs} visible (query, key) pairs per head: QK^T and PV. */
    public static long flops(long pairs, int heads, int headDim) {
        return 4L * pairs * heads * headDim;
    }

}
