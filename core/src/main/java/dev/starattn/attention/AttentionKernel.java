package dev.starattn.attention;

import dev.starattn.cpu.Parallel;
import dev.starattn.cpu.VectorOps;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
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
 *
 * <p>The engine reaches it as {@link AttentionBackends#CPU}, the CPU {@link AttentionBackend}.
 */
public final class AttentionKernel {
    private AttentionKernel() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    static final int BQ = 64;
    /** Keys per tile: four vectors, so that a score row is four registers. */
    static final int BK = 4 * L;
    /**
     * Softmax exponentials through the polynomial 2^x of {@link #expInPlace} (default: the same bits
     * in every JIT tier) or the Vector API's EXP ({@code -Dstarattn.softmax-exp=libm}, whose last
     * bits change when C2 compiles it): a switch for `starattn bench kernel` A/B runs only.
     */
    private static final boolean LIBM_EXP = dev.starattn.config.Switches.softmaxExpLibm();

    /** log2(e) and ln(2): scores are kept in base 2 (scaled by log2(e)), so that the softmax needs 2^x. */
    static final double LOG2E = 1.4426950408889634, LN2 = 0.6931471805599453;
    private static final float LN2F = (float) LN2;
    /** Minimax coefficients of 2^r - 1 = r * (C1 + r * (C2 + ...)) on [-1/2, 1/2] (0.93 ulp in f32 Horner). */
    private static final float C1 = 0.6931471824645996f, C2 = 0.24022647738456726f, C3 = 0.055503323674201965f,
            C4 = 0.009618435986340046f, C5 = 0.0013398868031799793f, C6 = 1.5353725757449865e-4f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    /** Arguments are clamped to [-127, 0]; n = -127 builds the exponent bits of 0, so 2^x = 0 there. */
    private static final float EXP2_LO = -127f;

    /**
     * a[off..off+n) = 2^(a - m) in place (n a multiple of the vector length, every a &lt;= m, -inf
     * allowed: it gives 0); returns their sum in a fixed order. 2^x as n + r with n = round(x) and
     * r = x - n exact in [-1/2, 1/2], a degree-6 polynomial for 2^r and 2^n through the exponent
     * bits: within about 1 ulp, of fma/add/mul/shift only, so that every JIT tier gives the same
     * bits ({@link #exp2(float)} is the same formula on one float). Written out here, not called:
     * a vector passed to a method that C2 has compiled on its own (and then does not inline) is
     * boxed, which cost a third of the kernel's speed.
     */
    static float expInPlace(float[] a, int off, int n, float m) {
        FloatVector mv = FloatVector.broadcast(S, m), acc = FloatVector.zero(S), one = FloatVector.broadcast(S, 1f);
        FloatVector c1 = FloatVector.broadcast(S, C1), c2 = FloatVector.broadcast(S, C2), c3 = FloatVector.broadcast(S, C3);
        FloatVector c4 = FloatVector.broadcast(S, C4), c5 = FloatVector.broadcast(S, C5), c6 = FloatVector.broadcast(S, C6);
        for (int j = 0; j < n; j += L) {
            FloatVector x = FloatVector.fromArray(S, a, off + j).sub(mv);
            FloatVector e;
            if (LIBM_EXP) {
                e = x.mul(LN2F).lanewise(VectorOperators.EXP);
            } else {
                x = x.max(EXP2_LO);
                FloatVector t = x.add(ROUND);
                FloatVector r = x.sub(t.sub(ROUND));
                FloatVector p = r.fma(c6, c5).fma(r, c4).fma(r, c3).fma(r, c2).fma(r, c1).fma(r, one);
                FloatVector pow2n = ((jdk.incubator.vector.IntVector) t.reinterpretAsInts())
                        .sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
                e = p.mul(pow2n);
            }
            e.intoArray(a, off + j);
            acc = acc.add(e);
        }
        if (L >= 16) acc = acc.add(acc.rearrange(FOLD_8));
        if (L >= 8) acc = acc.add(acc.rearrange(FOLD_4));
        if (L >= 4) acc = acc.add(acc.rearrange(FOLD_2));
        if (L >= 2) acc = acc.add(acc.rearrange(FOLD_1));
        return acc.lane(0);
    }

    /** 2^x for x &lt;= 0 (-inf gives 0): one lane of {@link #expInPlace}, the same bits. */
    static float exp2(float x) {
        if (LIBM_EXP) return (float) Math.exp(x * LN2F);
        x = Math.max(x, EXP2_LO);
        float t = x + ROUND;
        float r = x - (t - ROUND);
        float p = Math.fma(r, C6, C5);
        p = Math.fma(p, r, C4);
        p = Math.fma(p, r, C3);
        p = Math.fma(p, r, C2);
        p = Math.fma(p, r, C1);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - (0x4B400000 - 127)) << 23);
    }

    /** Rotations by 8, 4, 2, 1 lanes for fixed-order lane sums written out in the hot loops. */
    private static final VectorShuffle<Float> FOLD_8 = fold(8), FOLD_4 = fold(4), FOLD_2 = fold(2), FOLD_1 = fold(1);

    private static VectorShuffle<Float> fold(int by) {
        return VectorShuffle.iota(S, by < L ? by : 0, 1, true);
    }

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
        // Scores in base 2: the softmax takes 2^(s - max), the LSE converts back (ln 2).
        float scale = (float) (LOG2E / Math.sqrt(hd));
        int qTiles = (rows + BQ - 1) / BQ;
        int keys = k1 - k0;
        int chunks = 1;
        if (qTiles * heads < 2 * Parallel.threads() && keys >= 2 * SPLIT_KV_MIN_CHUNK) {
            chunks = Math.min(Math.max(1, keys / SPLIT_KV_MIN_CHUNK), Math.max(2, 2 * Parallel.threads()));
        }
        LongAdder pairs = new LongAdder();
        if (rows < 4) return decode(q, rows, qPos, heads, kv, k0, k1, scale, pairs);
        float[] kT = transposedTiles(kv, k0, k1);
        int kTTiles = (k1 - k0 + BK - 1) / BK;
        if (chunks == 1 && NativeAttention.usable(hd, kv.valueType())) {
            Object values = kv.valuesRaw();
            boolean f16 = kv.valueType() == KvType.F16;
            int group = heads / kv.kvHeads(), qStride = heads * hd;
            int[] kPos = kv.positions();
            float[] out = result.out(), lse = result.lse();
            Parallel.forRange(heads * qTiles, 1, (from, to) -> {
                float[] ml = Scratch.get(hd).ml;
                long n = 0;
                for (int item = from; item < to; item++) {
                    int h = item % heads, t = item / heads, kvh = h / group;
                    int r0 = t * BQ, nq = Math.min(rows, r0 + BQ) - r0;
                    n += NativeAttention.tile(q, qStride, h * hd, qPos, r0, nq, kPos, k0, k1, kT, (long) kvh * kTTiles * hd * BK,
                            values, f16, kv.rowSize(), kvh * hd, hd, scale, out, ml);
                    for (int i = 0; i < nq; i++) {
                        float l = ml[nq + i];
                        lse[(r0 + i) * heads + h] = l == 0f ? Float.NEGATIVE_INFINITY : (float) (ml[i] * LN2 + Math.log(l));
                    }
                }
                pairs.add(n);
            });
            releaseTransposeBuffer(kT);
            return result.withPairs(pairs.sum());
        }
        if (chunks == 1) {
            Parallel.forRange(heads * qTiles, 1, (from, to) -> {
                Scratch s = Scratch.get(hd);
                long n = 0;
                for (int item = from; item < to; item++) {
                    int h = item % heads, t = item / heads;
                    n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, k0, k1, kT, k0, kTTiles, scale,
                            result.out(), result.lse(), s);
                }
                pairs.add(n);
            });
            releaseTransposeBuffer(kT);
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
                n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, ks, ke, kT, k0, kTTiles, scale, p.out(), p.lse(), s);
            }
            pairs.add(n);
        });
        releaseTransposeBuffer(kT);
        return LseMerge.merge(parts).withPairs(pairs.sum());
    }

    /**
     * One to three query rows (decode, a short phase-2 step): work items are (kv head, chunk of
     * keys), so that each key and value tile is fetched once for every query head of its group
     * and every row; scores are plain dot products. Chunks are merged exactly.
     */
    private static Partial decode(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1, float scale,
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

    /**
     * Every key tile of [k0, k1) transposed, per kv head: tile i of kv head g holds
     * {@code K[k0 + i*BK + j][g][d]} at {@code ((g * tiles + i) * hd + d) * BK + j}, zero-padded.
     * Done once per call, it serves every query tile and every query head of the group. The array
     * is reused call after call (a small pool): allocated per call (8 MiB a layer at 8K keys
     * of a 125M model) it lived through a whole chunk's attention, was promoted, and piled up in the
     * old generation until a full collection, which set the peak RSS of long prompts.
     */
    private static float[] transposedTiles(KvCache kv, int k0, int k1) {
        int hd = kv.headDim(), g = kv.kvHeads();
        int tiles = (k1 - k0 + BK - 1) / BK;
        float[] kT = transposeBuffer(g * tiles * hd * BK);
        Parallel.forRange(g * tiles, 4, (from, to) -> {
            for (int item = from; item < to; item++) {
                int kvh = item / tiles, ti = item % tiles;
                int kb = k0 + ti * BK;
                int n = Math.min(BK, k1 - kb);
                int off = item * hd * BK;
                kv.keysTransposed(kb, n, kvh, kT, BK, off);
                if (n < BK) {
                    // The last tile's padding: a reused array holds the previous call's keys there.
                    for (int d = 0; d < hd; d++) java.util.Arrays.fill(kT, off + d * BK + n, off + d * BK + BK, 0f);
                }
            }
        });
        return kT;
    }

    /**
     * Transpose arrays of finished calls, kept for the next: at most {@link #KEEP_TRANSPOSE} of them
     * (hosts of one process attend at once), none above {@link #KEEP_TRANSPOSE_MAX} floats (256 MiB),
     * so that one huge call does not pin its array.
     */
    private static final java.util.concurrent.ConcurrentLinkedDeque<float[]> IDLE_TRANSPOSE = new java.util.concurrent.ConcurrentLinkedDeque<>();
    private static final int KEEP_TRANSPOSE = 4;
    private static final int KEEP_TRANSPOSE_MAX = 64 << 20;

    /** A transpose array of at least {@code n} floats (contents undefined), to {@link #releaseTransposeBuffer} after use. */
    private static float[] transposeBuffer(int n) {
        float[] b = IDLE_TRANSPOSE.pollFirst();
        if (b != null && b.length >= n) return b;
        // A prefill's calls grow chunk by chunk: a quarter more room serves the next few chunks too.
        return new float[(int) Math.min(Integer.MAX_VALUE - 8, n + (long) n / 4)];
    }

    private static void releaseTransposeBuffer(float[] b) {
        if (b.length <= KEEP_TRANSPOSE_MAX && IDLE_TRANSPOSE.size() < KEEP_TRANSPOSE) IDLE_TRANSPOSE.offerFirst(b);
    }

    /** Per-thread buffers, sized for one head dimension. */
    private static final class Scratch {
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
    private static long tile(float[] q, int[] qPos, int heads, int hd, int h, int r0, int r1, KvCache kv,
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

    /** FLOPs of attention for {@code pairs} visible (query, key) pairs per head: QK^T and PV. */
    public static long flops(long pairs, int heads, int headDim) {
        return 4L * pairs * heads * headDim;
    }

}
