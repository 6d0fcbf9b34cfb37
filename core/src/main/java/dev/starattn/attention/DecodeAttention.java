package dev.starattn.attention;

import static dev.starattn.attention.AttentionKernel.BK;
import static dev.starattn.attention.SoftmaxExp2.FOLD_1;
import static dev.starattn.attention.SoftmaxExp2.FOLD_2;
import static dev.starattn.attention.SoftmaxExp2.FOLD_4;
import static dev.starattn.attention.SoftmaxExp2.FOLD_8;
import static dev.starattn.attention.SoftmaxExp2.LN2;
import static dev.starattn.attention.SoftmaxExp2.exp2;
import static dev.starattn.attention.SoftmaxExp2.expInPlace;

import dev.starattn.cpu.Parallel;
import dev.starattn.cpu.VectorOps;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** {@link AttentionKernel}'s path for one to three query rows against many keys (decode, a short phase-2 step). */
final class DecodeAttention {
    private DecodeAttention() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /**
     * One to three query rows (decode, a short phase-2 step): work items are (kv head, chunk of
     * keys), so that each key and value tile is fetched once for every query head of its group
     * and every row; scores are plain dot products. Chunks are merged exactly.
     */
    static Partial decode(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1, float scale,
                                  LongAdder pairs) {
        int hd = kv.headDim(), kvHeads = kv.kvHeads();
        int keys = k1 - k0;
        int chunks = Math.max(1, Math.min(keys / 256, Math.max(1, 4 * Parallel.threads() / kvHeads)));
        List<Partial> parts = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) parts.add(Partial.empty(rows, heads, hd));
        Parallel.forRange(kvHeads * chunks, 1, (from, to) -> {
            long n = 0;
            for (int item = from; item < to; item++) {
                int c = item % chunks, g = item / chunks;
                int ks = k0 + (int) ((long) keys * c / chunks), ke = k0 + (int) ((long) keys * (c + 1) / chunks);
                Partial p = parts.get(c);
                n += decodeItem(q, rows, qPos, heads, kv, g, ks, ke, scale, p.out(), p.lse());
            }
            pairs.add(n);
        });
        return LseMerge.merge(parts).withPairs(pairs.sum());
    }

    /** Keys per decode stretch: scores of a stretch are all computed before its softmax and P.V. */
    private static final int DECODE_STRETCH = 2048;

    /** Per-thread decode buffers. */
    private static final class DecodeScratch {
        private static final ThreadLocal<DecodeScratch> LOCAL = new ThreadLocal<>();
        float[] s = new float[0], acc = new float[0], ml = new float[0], kt = new float[0], vt = new float[0];

        static DecodeScratch get(int nv, int hd) {
            DecodeScratch d = LOCAL.get();
            if (d == null) LOCAL.set(d = new DecodeScratch());
            if (d.s.length < nv * DECODE_STRETCH) d.s = new float[nv * DECODE_STRETCH];
            if (d.acc.length < nv * hd) d.acc = new float[nv * hd];
            if (d.ml.length < 2 * nv) d.ml = new float[2 * nv];
            if (d.kt.length < BK * hd) {
                d.kt = new float[BK * hd];
                d.vt = new float[BK * hd];
            }
            return d;
        }
    }

    /**
     * One (kv head, key range) item of decode: for each stretch of up to {@value #DECODE_STRETCH}
     * keys, first every score of every query vector of the group (each key tile dequantized once),
     * then one softmax update per query vector (running max and sum across stretches), then P.V
     * with each value tile dequantized once. Query vectors stay in registers over a tile's keys.
     */
    private static long decodeItem(float[] q, int rows, int[] qPos, int heads, KvCache kv, int g, int k0, int k1,
                                   float scale, float[] out, float[] lse) {
        int hd = kv.headDim(), group = heads / kv.kvHeads(), nv = rows * group, qStride = heads * hd;
        int kvStride = kv.kvHeads() * hd;
        DecodeScratch sc = DecodeScratch.get(nv, hd);
        float[] s = sc.s, ml = sc.ml, acc = sc.acc, kt = sc.kt, vt = sc.vt;
        java.util.Arrays.fill(ml, 0, nv, Float.NEGATIVE_INFINITY); // running max per query vector
        java.util.Arrays.fill(ml, nv, 2 * nv, 0f);                 // running sum
        java.util.Arrays.fill(acc, 0, nv * hd, 0f);
        int[] kPos = kv.positions();
        int qMax = Integer.MIN_VALUE;
        for (int r = 0; r < rows; r++) qMax = Math.max(qMax, qPos[r]);
        long visible = 0;
        boolean kF32 = kv.keyType() == KvType.F32, vF32 = kv.valueType() == KvType.F32;
        for (int c0 = k0; c0 < k1; c0 += DECODE_STRETCH) {
            int c1 = Math.min(k1, c0 + DECODE_STRETCH), n = c1 - c0;
            // Scores: s[v * DECODE_STRETCH + (key - c0)], -inf where masked.
            for (int kb = c0; kb < c1; kb += BK) {
                int nk = Math.min(BK, c1 - kb), so = kb - c0;
                int tMin = Integer.MAX_VALUE;
                for (int j = 0; j < nk; j++) tMin = Math.min(tMin, kPos[kb + j]);
                if (tMin > qMax) {
                    for (int v = 0; v < nv; v++) java.util.Arrays.fill(s, v * DECODE_STRETCH + so, v * DECODE_STRETCH + so + nk, Float.NEGATIVE_INFINITY);
                    continue;
                }
                float[] kSrc = kt;
                int kBase = 0, kStride = hd;
                if (kF32) {
                    kSrc = kv.keys();
                    kBase = kb * kvStride + g * hd;
                    kStride = kvStride;
                } else {
                    kv.keysTile(kb, nk, g, kt);
                }
                for (int v = 0; v < nv; v++) {
                    int r = v / group, h = g * group + v % group;
                    int qOff = r * qStride + h * hd, o = v * DECODE_STRETCH + so;
                    if (hd == 4 * L) {
                        visible += scores64(q, qOff, kSrc, kBase, kStride, nk, scale, kPos, kb, qPos[r], s, o);
                    } else {
                        visible += scoresAny(q, qOff, kSrc, kBase, kStride, nk, hd, scale, kPos, kb, qPos[r], s, o);
                    }
                }
            }
            // Softmax update per query vector; p overwrites the scores.
            boolean any = false;
            for (int v = 0; v < nv; v++) {
                int o = v * DECODE_STRETCH;
                float rowMax = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) rowMax = Math.max(rowMax, s[o + j]);
                if (rowMax == Float.NEGATIVE_INFINITY) {
                    java.util.Arrays.fill(s, o, o + n, 0f);
                    continue;
                }
                any = true;
                float mOld = ml[v], mNew = Math.max(mOld, rowMax);
                float corr = mNew == mOld ? 1f : mOld == Float.NEGATIVE_INFINITY ? 0f : exp2(mOld - mNew);
                int j = S.loopBound(n);
                float sum = expInPlace(s, o, j, mNew);
                for (; j < n; j++) {
                    float e = exp2(s[o + j] - mNew);
                    s[o + j] = e;
                    sum += e;
                }
                ml[v] = mNew;
                ml[nv + v] = ml[nv + v] * corr + sum;
                if (corr != 1f) scaleRow(acc, v * hd, hd, corr);
            }
            if (!any) continue;
            // acc[v] += sum_j p[v][j] * V_j, each value tile dequantized once for every query vector.
            for (int kb = c0; kb < c1; kb += BK) {
                int nk = Math.min(BK, c1 - kb), so = kb - c0;
                int tMin = Integer.MAX_VALUE;
                for (int j = 0; j < nk; j++) tMin = Math.min(tMin, kPos[kb + j]);
                if (tMin > qMax) continue;
                float[] vSrc = vt;
                int vBase = 0, vStride = hd;
                if (vF32) {
                    vSrc = kv.values();
                    vBase = kb * kvStride + g * hd;
                    vStride = kvStride;
                } else {
                    kv.valuesTile(kb, nk, g, vt);
                }
                for (int v = 0; v < nv; v++) {
                    if (hd == 4 * L) pv64(s, v * DECODE_STRETCH + so, vSrc, vBase, vStride, nk, acc, v * hd);
                    else pvAny(s, v * DECODE_STRETCH + so, vSrc, vBase, vStride, nk, hd, acc, v * hd);
                }
            }
        }
        for (int v = 0; v < nv; v++) {
            int r = v / group, h = g * group + v % group;
            int oOff = (r * heads + h) * hd, lIdx = r * heads + h;
            float l = ml[nv + v];
            if (l == 0f) {
                lse[lIdx] = Float.NEGATIVE_INFINITY;
                java.util.Arrays.fill(out, oOff, oOff + hd, 0f);
                continue;
            }
            float inv = 1f / l;
            for (int d = 0; d < hd; d++) out[oOff + d] = acc[v * hd + d] * inv;
            lse[lIdx] = (float) (ml[v] * LN2 + Math.log(l));
        }
        return visible;
    }

    /**
     * s[o + j] = scale * q . K_j for the nk keys of a tile (head size four vectors; -inf where the
     * key is after qp); returns the visible keys. The query stays in four registers; the lane sums
     * are written out in a fixed order (through a call to VectorOps.sum here the vectors are boxed: C2 does not inline it).
     */
    private static int scores64(float[] q, int qOff, float[] k, int kBase, int kStride, int nk, float scale,
                                int[] kPos, int kb, int qp, float[] s, int o) {
        FloatVector q0 = FloatVector.fromArray(S, q, qOff), q1 = FloatVector.fromArray(S, q, qOff + L);
        FloatVector q2 = FloatVector.fromArray(S, q, qOff + 2 * L), q3 = FloatVector.fromArray(S, q, qOff + 3 * L);
        int visible = 0;
        for (int j = 0; j < nk; j++) {
            if (kPos[kb + j] > qp) {
                s[o + j] = Float.NEGATIVE_INFINITY;
                continue;
            }
            int ko = kBase + j * kStride;
            FloatVector a = FloatVector.fromArray(S, k, ko).mul(q0)
                    .add(FloatVector.fromArray(S, k, ko + 2 * L).mul(q2));
            FloatVector b = FloatVector.fromArray(S, k, ko + L).mul(q1)
                    .add(FloatVector.fromArray(S, k, ko + 3 * L).mul(q3));
            FloatVector t = a.add(b);
            if (L >= 16) t = t.add(t.rearrange(FOLD_8));
            if (L >= 8) t = t.add(t.rearrange(FOLD_4));
            if (L >= 4) t = t.add(t.rearrange(FOLD_2));
            if (L >= 2) t = t.add(t.rearrange(FOLD_1));
            s[o + j] = scale * t.lane(0);
            visible++;
        }
        return visible;
    }

    private static int scoresAny(float[] q, int qOff, float[] k, int kBase, int kStride, int nk, int hd, float scale,
                                 int[] kPos, int kb, int qp, float[] s, int o) {
        int visible = 0;
        for (int j = 0; j < nk; j++) {
            if (kPos[kb + j] > qp) {
                s[o + j] = Float.NEGATIVE_INFINITY;
                continue;
            }
            s[o + j] = scale * dot(q, qOff, k, kBase + j * kStride, hd);
            visible++;
        }
        return visible;
    }

    /** acc[a .. a + 4L) += sum_j p[o + j] * V_j over a tile (head size four vectors), in registers. */
    private static void pv64(float[] p, int o, float[] vals, int vBase, int vStride, int nk, float[] acc, int a) {
        FloatVector c0 = FloatVector.fromArray(S, acc, a), c1 = FloatVector.fromArray(S, acc, a + L);
        FloatVector c2 = FloatVector.fromArray(S, acc, a + 2 * L), c3 = FloatVector.fromArray(S, acc, a + 3 * L);
        for (int j = 0; j < nk; j++) {
            float pj = p[o + j];
            if (pj == 0f) continue;
            FloatVector pv = FloatVector.broadcast(S, pj);
            int vo = vBase + j * vStride;
            c0 = FloatVector.fromArray(S, vals, vo).fma(pv, c0);
            c1 = FloatVector.fromArray(S, vals, vo + L).fma(pv, c1);
            c2 = FloatVector.fromArray(S, vals, vo + 2 * L).fma(pv, c2);
            c3 = FloatVector.fromArray(S, vals, vo + 3 * L).fma(pv, c3);
        }
        c0.intoArray(acc, a);
        c1.intoArray(acc, a + L);
        c2.intoArray(acc, a + 2 * L);
        c3.intoArray(acc, a + 3 * L);
    }

    private static void pvAny(float[] p, int o, float[] vals, int vBase, int vStride, int nk, int hd, float[] acc, int a) {
        int dVec = hd - hd % L;
        for (int j = 0; j < nk; j++) {
            float pj = p[o + j];
            if (pj == 0f) continue;
            int vo = vBase + j * vStride;
            FloatVector pv = FloatVector.broadcast(S, pj);
            int d = 0;
            for (; d < dVec; d += L) {
                FloatVector.fromArray(S, vals, vo + d).fma(pv, FloatVector.fromArray(S, acc, a + d)).intoArray(acc, a + d);
            }
            for (; d < hd; d++) acc[a + d] += pj * vals[vo + d];
        }
    }

    private static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            acc = FloatVector.fromArray(S, a, aOff + i).fma(FloatVector.fromArray(S, b, bOff + i), acc);
        }
        float sum = VectorOps.sum(acc);
        for (; i < n; i++) sum += a[aOff + i] * b[bOff + i];
        return sum;
    }

    private static void scaleRow(float[] a, int off, int n, float f) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector.fromArray(S, a, off + i).mul(f).intoArray(a, off + i);
        }
        for (; i < n; i++) a[off + i] *= f;
    }
}
