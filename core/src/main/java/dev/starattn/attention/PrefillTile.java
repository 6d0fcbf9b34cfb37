package dev.starattn.attention;

import static dev.starattn.attention.AttentionKernel.BK;
import static dev.starattn.attention.AttentionKernel.BQ;
import static dev.starattn.attention.SoftmaxExp2.LN2;
import static dev.starattn.attention.SoftmaxExp2.exp2;
import static dev.starattn.attention.SoftmaxExp2.expInPlace;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link AttentionKernel}'s Vector API tile: one query head and up to {@value AttentionKernel#BQ} query rows against a
 * key range, streamed tile by tile with the online softmax, four query rows at a time.
 */
final class PrefillTile {
    private PrefillTile() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    /** Per-thread buffers, sized for one head dimension. */
    static final class Scratch {
        private static final ThreadLocal<Scratch> LOCAL = new ThreadLocal<>();
        final int hd;
        final float[] kt;      // [hd][BK] transposed key tile
        final float[] vt;      // [BK][hd] value tile
        final float[] scores;  // [4][BK]: four query rows at a time
        final float[] acc;     // [BQ][hd]
        final float[] corr = new float[4];
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];
        final float[] ml = new float[2 * BQ];  // the native tile's running max and sum per query row

        Scratch(int hd) {
            this.hd = hd;
            kt = new float[hd * BK];
            vt = new float[BK * hd];
            scores = new float[4 * BK];
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
    static long tile(float[] q, int[] qPos, int heads, int hd, int h, int r0, int r1, KvCache kv,
                             int k0, int k1, float[] kT, int kTFrom, int kTTiles, float scale, float[] out, float[] lse, Scratch s) {
        int nq = r1 - r0;
        int qStride = heads * hd;
        int group = heads / kv.kvHeads();
        int kvh = h / group;
        int[] kPos = kv.positions();
        int qMax = Integer.MIN_VALUE, qMin = Integer.MAX_VALUE;
        for (int r = r0; r < r1; r++) {
            qMax = Math.max(qMax, qPos[r]);
            qMin = Math.min(qMin, qPos[r]);
        }
        float[] m = s.m, l = s.l, acc = s.acc, kt = s.kt, sc = s.scores, corr = s.corr;
        java.util.Arrays.fill(m, 0, nq, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(l, 0, nq, 0f);
        java.util.Arrays.fill(acc, 0, nq * hd, 0f);
        // f32 values are read in place (row stride kvHeads * hd); other types are dequantized per
        // key tile into the scratch tile (row stride hd).
        boolean f32Values = kv.valueType() == KvType.F32;
        float[] values = f32Values ? kv.values() : s.vt;
        int vStride = f32Values ? kv.kvHeads() * hd : hd;
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
            float[] kSrc;
            int kOff;
            if ((kb - kTFrom) % BK == 0) {
                // The key tile, transposed once per call for every query tile and head of its group.
                kSrc = kT;
                kOff = ((kvh * kTTiles) + (kb - kTFrom) / BK) * hd * BK;
            } else {
                // A split-KV chunk that starts inside a tile: transpose this one here.
                kv.keysTransposed(kb, nk, kvh, kt, BK);
                if (nk < BK) {
                    for (int d = 0; d < hd; d++) java.util.Arrays.fill(kt, d * BK + nk, d * BK + BK, 0f);
                }
                kSrc = kt;
                kOff = 0;
            }
            int vOff = kb * vStride + kvh * hd;
            if (!f32Values) {
                kv.valuesTile(kb, nk, kvh, s.vt);
                vOff = 0;
            }
            // Four query rows at a time: scores, online softmax and P.V while the key and value
            // tiles stay in the L1 cache and the four score rows in a 1 KB scratch.
            for (int i = 0; i < nq; i += 4) {
                int rows = Math.min(4, nq - i);
                scores(q, qStride, h * hd, r0 + i, rows, hd, kSrc, kOff, scale, sc);
                for (int r = 0; r < rows; r++) {
                    int rowOff = r * BK;
                    if (nk < BK) java.util.Arrays.fill(sc, rowOff + nk, rowOff + BK, Float.NEGATIVE_INFINITY);
                    if (needMask) {
                        int qp = qPos[r0 + i + r];
                        for (int j = 0; j < nk; j++) {
                            if (kPos[kb + j] > qp) sc[rowOff + j] = Float.NEGATIVE_INFINITY;
                            else visible++;
                        }
                    }
                    FloatVector v0 = FloatVector.fromArray(S, sc, rowOff), v1 = FloatVector.fromArray(S, sc, rowOff + L);
                    FloatVector v2 = FloatVector.fromArray(S, sc, rowOff + 2 * L), v3 = FloatVector.fromArray(S, sc, rowOff + 3 * L);
                    float rowMax = v0.max(v1).max(v2.max(v3)).reduceLanes(VectorOperators.MAX);
                    if (rowMax == Float.NEGATIVE_INFINITY) {
                        java.util.Arrays.fill(sc, rowOff, rowOff + BK, 0f); // no visible key in this tile
                        corr[r] = 1f;
                        continue;
                    }
                    int ri = i + r;
                    float mOld = m[ri], mNew = Math.max(mOld, rowMax);
                    // The accumulator's rescale factor; exactly 1 when the running max is unchanged.
                    float c = mNew == mOld ? 1f : mOld == Float.NEGATIVE_INFINITY ? 0f : exp2(mOld - mNew);
                    // 2^(-inf - m) = 0, so masked keys drop out without a branch.
                    float sum = expInPlace(sc, rowOff, BK, mNew);
                    l[ri] = l[ri] * c + sum;
                    m[ri] = mNew;
                    corr[r] = c;
                }
                accumulatePV(values, vOff, vStride, nk, sc, rows, hd, acc, i * hd, corr);
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
            lse[lIdx] = (float) (m[i] * LN2 + Math.log(l[i]));
        }
        return visible;
    }

    /**
     * sc[r][0..BK) = scale * q_r . k_j for query rows r0 .. r0+rows (rows at most 4) against the
     * transposed key tile: the BK = 4 vectors of keys, sixteen independent accumulators, no
     * reductions.
     */
    private static void scores(float[] q, int qStride, int qHeadOff, int r0, int rows, int hd, float[] kt, int ktOff, float scale, float[] sc) {
        int q0 = r0 * qStride + qHeadOff;
        int q1 = (r0 + Math.min(1, rows - 1)) * qStride + qHeadOff;
        int q2 = (r0 + Math.min(2, rows - 1)) * qStride + qHeadOff;
        int q3 = (r0 + Math.min(3, rows - 1)) * qStride + qHeadOff;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int d = 0; d < hd; d++) {
            int o = ktOff + d * BK;
            FloatVector k0 = FloatVector.fromArray(S, kt, o), k1 = FloatVector.fromArray(S, kt, o + L);
            FloatVector k2 = FloatVector.fromArray(S, kt, o + 2 * L), k3 = FloatVector.fromArray(S, kt, o + 3 * L);
            FloatVector b = FloatVector.broadcast(S, q[q0 + d]);
            a00 = k0.fma(b, a00); a01 = k1.fma(b, a01); a02 = k2.fma(b, a02); a03 = k3.fma(b, a03);
            b = FloatVector.broadcast(S, q[q1 + d]);
            a10 = k0.fma(b, a10); a11 = k1.fma(b, a11); a12 = k2.fma(b, a12); a13 = k3.fma(b, a13);
            b = FloatVector.broadcast(S, q[q2 + d]);
            a20 = k0.fma(b, a20); a21 = k1.fma(b, a21); a22 = k2.fma(b, a22); a23 = k3.fma(b, a23);
            b = FloatVector.broadcast(S, q[q3 + d]);
            a30 = k0.fma(b, a30); a31 = k1.fma(b, a31); a32 = k2.fma(b, a32); a33 = k3.fma(b, a33);
        }
        a00.mul(scale).intoArray(sc, 0); a01.mul(scale).intoArray(sc, L);
        a02.mul(scale).intoArray(sc, 2 * L); a03.mul(scale).intoArray(sc, 3 * L);
        if (rows > 1) {
            a10.mul(scale).intoArray(sc, BK); a11.mul(scale).intoArray(sc, BK + L);
            a12.mul(scale).intoArray(sc, BK + 2 * L); a13.mul(scale).intoArray(sc, BK + 3 * L);
        }
        if (rows > 2) {
            a20.mul(scale).intoArray(sc, 2 * BK); a21.mul(scale).intoArray(sc, 2 * BK + L);
            a22.mul(scale).intoArray(sc, 2 * BK + 2 * L); a23.mul(scale).intoArray(sc, 2 * BK + 3 * L);
        }
        if (rows > 3) {
            a30.mul(scale).intoArray(sc, 3 * BK); a31.mul(scale).intoArray(sc, 3 * BK + L);
            a32.mul(scale).intoArray(sc, 3 * BK + 2 * L); a33.mul(scale).intoArray(sc, 3 * BK + 3 * L);
        }
    }

    /**
     * acc[r] = acc[r] * corr[r] + sum_j p[r][j] * V_j for query rows r &lt; rows (at most 4; row r
     * of the accumulator at {@code a0 + r * hd}, of p at {@code r * BK}): four rows by four vectors
     * of the head dimension in sixteen registers, so that each loaded value vector and broadcast
     * p feed four FMAs.
     */
    private static void accumulatePV(float[] values, int vOff, int vStride, int nk, float[] p, int rows, int hd,
                                     float[] acc, int a0, float[] corr) {
        int r1 = Math.min(1, rows - 1), r2 = Math.min(2, rows - 1), r3 = Math.min(3, rows - 1);
        int p1 = r1 * BK, p2 = r2 * BK, p3 = r3 * BK;
        int a1 = a0 + r1 * hd, a2 = a0 + r2 * hd, a3 = a0 + r3 * hd;
        FloatVector f0 = FloatVector.broadcast(S, corr[0]), f1 = FloatVector.broadcast(S, corr[r1]);
        FloatVector f2 = FloatVector.broadcast(S, corr[r2]), f3 = FloatVector.broadcast(S, corr[r3]);
        int c = 0;
        for (; c + 4 * L <= hd; c += 4 * L) {
            FloatVector c00 = FloatVector.fromArray(S, acc, a0 + c).mul(f0), c01 = FloatVector.fromArray(S, acc, a0 + c + L).mul(f0);
            FloatVector c02 = FloatVector.fromArray(S, acc, a0 + c + 2 * L).mul(f0), c03 = FloatVector.fromArray(S, acc, a0 + c + 3 * L).mul(f0);
            FloatVector c10 = FloatVector.fromArray(S, acc, a1 + c).mul(f1), c11 = FloatVector.fromArray(S, acc, a1 + c + L).mul(f1);
            FloatVector c12 = FloatVector.fromArray(S, acc, a1 + c + 2 * L).mul(f1), c13 = FloatVector.fromArray(S, acc, a1 + c + 3 * L).mul(f1);
            FloatVector c20 = FloatVector.fromArray(S, acc, a2 + c).mul(f2), c21 = FloatVector.fromArray(S, acc, a2 + c + L).mul(f2);
            FloatVector c22 = FloatVector.fromArray(S, acc, a2 + c + 2 * L).mul(f2), c23 = FloatVector.fromArray(S, acc, a2 + c + 3 * L).mul(f2);
            FloatVector c30 = FloatVector.fromArray(S, acc, a3 + c).mul(f3), c31 = FloatVector.fromArray(S, acc, a3 + c + L).mul(f3);
            FloatVector c32 = FloatVector.fromArray(S, acc, a3 + c + 2 * L).mul(f3), c33 = FloatVector.fromArray(S, acc, a3 + c + 3 * L).mul(f3);
            for (int j = 0; j < nk; j++) {
                int vo = vOff + j * vStride + c;
                FloatVector v0 = FloatVector.fromArray(S, values, vo), v1 = FloatVector.fromArray(S, values, vo + L);
                FloatVector v2 = FloatVector.fromArray(S, values, vo + 2 * L), v3 = FloatVector.fromArray(S, values, vo + 3 * L);
                FloatVector b = FloatVector.broadcast(S, p[j]);
                c00 = v0.fma(b, c00); c01 = v1.fma(b, c01); c02 = v2.fma(b, c02); c03 = v3.fma(b, c03);
                b = FloatVector.broadcast(S, p[p1 + j]);
                c10 = v0.fma(b, c10); c11 = v1.fma(b, c11); c12 = v2.fma(b, c12); c13 = v3.fma(b, c13);
                b = FloatVector.broadcast(S, p[p2 + j]);
                c20 = v0.fma(b, c20); c21 = v1.fma(b, c21); c22 = v2.fma(b, c22); c23 = v3.fma(b, c23);
                b = FloatVector.broadcast(S, p[p3 + j]);
                c30 = v0.fma(b, c30); c31 = v1.fma(b, c31); c32 = v2.fma(b, c32); c33 = v3.fma(b, c33);
            }
            c00.intoArray(acc, a0 + c); c01.intoArray(acc, a0 + c + L); c02.intoArray(acc, a0 + c + 2 * L); c03.intoArray(acc, a0 + c + 3 * L);
            if (rows > 1) {
                c10.intoArray(acc, a1 + c); c11.intoArray(acc, a1 + c + L); c12.intoArray(acc, a1 + c + 2 * L); c13.intoArray(acc, a1 + c + 3 * L);
            }
            if (rows > 2) {
                c20.intoArray(acc, a2 + c); c21.intoArray(acc, a2 + c + L); c22.intoArray(acc, a2 + c + 2 * L); c23.intoArray(acc, a2 + c + 3 * L);
            }
            if (rows > 3) {
                c30.intoArray(acc, a3 + c); c31.intoArray(acc, a3 + c + L); c32.intoArray(acc, a3 + c + 2 * L); c33.intoArray(acc, a3 + c + 3 * L);
            }
        }
        for (; c + L <= hd; c += L) { // head sizes that are not a multiple of four vectors
            FloatVector c0 = FloatVector.fromArray(S, acc, a0 + c).mul(f0), c1 = FloatVector.fromArray(S, acc, a1 + c).mul(f1);
            FloatVector c2 = FloatVector.fromArray(S, acc, a2 + c).mul(f2), c3 = FloatVector.fromArray(S, acc, a3 + c).mul(f3);
            for (int j = 0; j < nk; j++) {
                FloatVector v = FloatVector.fromArray(S, values, vOff + j * vStride + c);
                c0 = v.fma(FloatVector.broadcast(S, p[j]), c0);
                c1 = v.fma(FloatVector.broadcast(S, p[p1 + j]), c1);
                c2 = v.fma(FloatVector.broadcast(S, p[p2 + j]), c2);
                c3 = v.fma(FloatVector.broadcast(S, p[p3 + j]), c3);
            }
            c0.intoArray(acc, a0 + c);
            if (rows > 1) c1.intoArray(acc, a1 + c);
            if (rows > 2) c2.intoArray(acc, a2 + c);
            if (rows > 3) c3.intoArray(acc, a3 + c);
        }
        for (int r = 0; r < rows; r++) { // head dimensions beyond the last whole vector
            for (int d = c; d < hd; d++) {
                float sum = acc[a0 + r * hd + d] * corr[r];
                for (int j = 0; j < nk; j++) sum += p[r * BK + j] * values[vOff + j * vStride + d];
                acc[a0 + r * hd + d] = sum;
            }
        }
    }
}
