/*
 * The prefill attention tile of dev.starattn.attention.AttentionKernel in C, for AVX-512 machines:
 * one (query head, tile of up to 64 query rows) against a range of keys, online softmax, P.V.
 * Why: the Java kernel reaches its speed only once C2 has compiled it (boxed vectors before), which
 * in a cold `starattn generate` took most of the first chunk's first layer, and again after the
 * second chunk's new branches deoptimised it; this code runs at speed from its first call.
 *
 * It is the Java kernel's arithmetic operation for operation (the same fmas, the same fixed-order
 * lane sums for 16 float lanes), so that both give the same bits; built with -ffp-contract=off.
 * The Java side calls it only where its own vectors are 16 floats (AVX-512) and the head size is a
 * multiple of 16. Keys come transposed in tiles of 64 (AttentionKernel.transposedTiles); values
 * are f32 or f16 rows of the cache (row stride vStride, this head's columns from vCol).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <immintrin.h>

#define BK 64
#define BQ 64
#define L 16

static const float C1 = 0.6931471824645996f, C2 = 0.24022647738456726f, C3 = 0.055503323674201965f,
                   C4 = 0.009618435986340046f, C5 = 0.0013398868031799793f, C6 = 1.5353725757449865e-4f;
static const float ROUND = 12582912.0f, EXP2_LO = -127.0f;

/* AttentionKernel.exp2: 2^x for x <= 0, the same formula on one float. */
__attribute__((target("fma")))
static float exp2_one(float x) {
    x = x >= EXP2_LO ? x : EXP2_LO;
    float t = x + ROUND;
    float r = x - (t - ROUND);
    float p = fmaf(r, C6, C5);
    p = fmaf(p, r, C4);
    p = fmaf(p, r, C3);
    p = fmaf(p, r, C2);
    p = fmaf(p, r, C1);
    p = fmaf(p, r, 1.0f);
    int32_t tb; memcpy(&tb, &t, 4);
    int32_t pb = (int32_t) ((uint32_t) (tb - (0x4B400000 - 127)) << 23);
    float pw; memcpy(&pw, &pb, 4);
    return p * pw;
}

/* Sum of 16 lanes as the Java kernel folds them: rotations by 8, 4, 2, 1, then lane 0. */
__attribute__((target("avx512f")))
static float fold16(__m512 a) {
    float v[L], w[L];
    _mm512_storeu_ps(v, a);
    for (int by = 8; by >= 1; by >>= 1) {
        for (int i = 0; i < L; i++) w[i] = v[i] + v[(i + by) & (L - 1)];
        memcpy(v, w, sizeof v);
    }
    return v[0];
}

/* AttentionKernel.expInPlace over one score row of BK: a = 2^(a - m), returns their sum. */
__attribute__((target("avx512f,fma")))
static float exp_in_place(float *a, float m) {
    __m512 mv = _mm512_set1_ps(m), acc = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    __m512 lo = _mm512_set1_ps(EXP2_LO), rnd = _mm512_set1_ps(ROUND);
    for (int j = 0; j < BK; j += L) {
        __m512 x = _mm512_sub_ps(_mm512_loadu_ps(a + j), mv);
        x = _mm512_max_ps(x, lo);
        __m512 t = _mm512_add_ps(x, rnd);
        __m512 r = _mm512_sub_ps(x, _mm512_sub_ps(t, rnd));
        __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(C6), _mm512_set1_ps(C5));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C4));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C1));
        p = _mm512_fmadd_ps(p, r, one);
        __m512i pw = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000 - 127)), 23);
        __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(pw));
        _mm512_storeu_ps(a + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    return fold16(acc);
}

/*
 * sc[r][j] = scale * q_r . k_j for rows r < 4 (rows beyond `rows` repeat the last), as AttentionKernel.scores.
 * Sixteen named accumulators: in an array indexed by loops, gcc -O2 kept them in memory.
 */
#define FMA4(q, a0, a1, a2, a3) { __m512 b = _mm512_set1_ps(q); \
    a0 = _mm512_fmadd_ps(k0, b, a0); a1 = _mm512_fmadd_ps(k1, b, a1); a2 = _mm512_fmadd_ps(k2, b, a2); a3 = _mm512_fmadd_ps(k3, b, a3); }
__attribute__((target("avx512f,fma")))
static void scores(const float *q, int qStride, int qHeadOff, int r0, int rows, int hd, const float *kt,
                   float scale, float *sc) {
    const float *q0 = q + (int64_t) r0 * qStride + qHeadOff;
    const float *q1 = q + (int64_t) (r0 + (rows > 1 ? 1 : rows - 1)) * qStride + qHeadOff;
    const float *q2 = q + (int64_t) (r0 + (rows > 2 ? 2 : rows - 1)) * qStride + qHeadOff;
    const float *q3 = q + (int64_t) (r0 + (rows > 3 ? 3 : rows - 1)) * qStride + qHeadOff;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int d = 0; d < hd; d++) {
        const float *o = kt + d * BK;
        __m512 k0 = _mm512_loadu_ps(o), k1 = _mm512_loadu_ps(o + L), k2 = _mm512_loadu_ps(o + 2 * L), k3 = _mm512_loadu_ps(o + 3 * L);
        FMA4(q0[d], a00, a01, a02, a03);
        FMA4(q1[d], a10, a11, a12, a13);
        FMA4(q2[d], a20, a21, a22, a23);
        FMA4(q3[d], a30, a31, a32, a33);
    }
    __m512 s = _mm512_set1_ps(scale);
    _mm512_storeu_ps(sc, _mm512_mul_ps(a00, s)); _mm512_storeu_ps(sc + L, _mm512_mul_ps(a01, s));
    _mm512_storeu_ps(sc + 2 * L, _mm512_mul_ps(a02, s)); _mm512_storeu_ps(sc + 3 * L, _mm512_mul_ps(a03, s));
    if (rows > 1) {
        _mm512_storeu_ps(sc + BK, _mm512_mul_ps(a10, s)); _mm512_storeu_ps(sc + BK + L, _mm512_mul_ps(a11, s));
        _mm512_storeu_ps(sc + BK + 2 * L, _mm512_mul_ps(a12, s)); _mm512_storeu_ps(sc + BK + 3 * L, _mm512_mul_ps(a13, s));
    }
    if (rows > 2) {
        _mm512_storeu_ps(sc + 2 * BK, _mm512_mul_ps(a20, s)); _mm512_storeu_ps(sc + 2 * BK + L, _mm512_mul_ps(a21, s));
        _mm512_storeu_ps(sc + 2 * BK + 2 * L, _mm512_mul_ps(a22, s)); _mm512_storeu_ps(sc + 2 * BK + 3 * L, _mm512_mul_ps(a23, s));
    }
    if (rows > 3) {
        _mm512_storeu_ps(sc + 3 * BK, _mm512_mul_ps(a30, s)); _mm512_storeu_ps(sc + 3 * BK + L, _mm512_mul_ps(a31, s));
        _mm512_storeu_ps(sc + 3 * BK + 2 * L, _mm512_mul_ps(a32, s)); _mm512_storeu_ps(sc + 3 * BK + 3 * L, _mm512_mul_ps(a33, s));
    }
}

/*
 * acc[r] = acc[r] * corr[r] + sum_j p[r][j] * V_j, as AttentionKernel.accumulatePV (hd a multiple of 16):
 * four rows always (rows beyond `rows` repeat the last and are not stored) and two vectors of the head
 * dimension at a time, in named registers.
 */
__attribute__((target("avx512f,fma")))
static void accumulate_pv(const float *v, int vStride, int nk, const float *p, int rows, int hd, float *acc, const float *corr) {
    int r1 = rows > 1 ? 1 : rows - 1, r2 = rows > 2 ? 2 : rows - 1, r3 = rows > 3 ? 3 : rows - 1;
    const float *p0 = p, *p1 = p + r1 * BK, *p2 = p + r2 * BK, *p3 = p + r3 * BK;
    float *a0 = acc, *a1 = acc + r1 * hd, *a2 = acc + r2 * hd, *a3 = acc + r3 * hd;
    __m512 f0 = _mm512_set1_ps(corr[0]), f1 = _mm512_set1_ps(corr[r1]), f2 = _mm512_set1_ps(corr[r2]), f3 = _mm512_set1_ps(corr[r3]);
    int c = 0;
    for (; c + 2 * L <= hd; c += 2 * L) {
        __m512 c00 = _mm512_mul_ps(_mm512_loadu_ps(a0 + c), f0), c01 = _mm512_mul_ps(_mm512_loadu_ps(a0 + c + L), f0);
        __m512 c10 = _mm512_mul_ps(_mm512_loadu_ps(a1 + c), f1), c11 = _mm512_mul_ps(_mm512_loadu_ps(a1 + c + L), f1);
        __m512 c20 = _mm512_mul_ps(_mm512_loadu_ps(a2 + c), f2), c21 = _mm512_mul_ps(_mm512_loadu_ps(a2 + c + L), f2);
        __m512 c30 = _mm512_mul_ps(_mm512_loadu_ps(a3 + c), f3), c31 = _mm512_mul_ps(_mm512_loadu_ps(a3 + c + L), f3);
        for (int j = 0; j < nk; j++) {
            const float *vr = v + (int64_t) j * vStride + c;
            __m512 x0 = _mm512_loadu_ps(vr), x1 = _mm512_loadu_ps(vr + L), b;
            b = _mm512_set1_ps(p0[j]); c00 = _mm512_fmadd_ps(x0, b, c00); c01 = _mm512_fmadd_ps(x1, b, c01);
            b = _mm512_set1_ps(p1[j]); c10 = _mm512_fmadd_ps(x0, b, c10); c11 = _mm512_fmadd_ps(x1, b, c11);
            b = _mm512_set1_ps(p2[j]); c20 = _mm512_fmadd_ps(x0, b, c20); c21 = _mm512_fmadd_ps(x1, b, c21);
            b = _mm512_set1_ps(p3[j]); c30 = _mm512_fmadd_ps(x0, b, c30); c31 = _mm512_fmadd_ps(x1, b, c31);
        }
        _mm512_storeu_ps(a0 + c, c00); _mm512_storeu_ps(a0 + c + L, c01);
        if (rows > 1) { _mm512_storeu_ps(a1 + c, c10); _mm512_storeu_ps(a1 + c + L, c11); }
        if (rows > 2) { _mm512_storeu_ps(a2 + c, c20); _mm512_storeu_ps(a2 + c + L, c21); }
        if (rows > 3) { _mm512_storeu_ps(a3 + c, c30); _mm512_storeu_ps(a3 + c + L, c31); }
    }
    for (; c < hd; c += L) {
        __m512 c0 = _mm512_mul_ps(_mm512_loadu_ps(a0 + c), f0), c1 = _mm512_mul_ps(_mm512_loadu_ps(a1 + c), f1);
        __m512 c2 = _mm512_mul_ps(_mm512_loadu_ps(a2 + c), f2), c3 = _mm512_mul_ps(_mm512_loadu_ps(a3 + c), f3);
        for (int j = 0; j < nk; j++) {
            __m512 x = _mm512_loadu_ps(v + (int64_t) j * vStride + c);
            c0 = _mm512_fmadd_ps(x, _mm512_set1_ps(p0[j]), c0);
            c1 = _mm512_fmadd_ps(x, _mm512_set1_ps(p1[j]), c1);
            c2 = _mm512_fmadd_ps(x, _mm512_set1_ps(p2[j]), c2);
            c3 = _mm512_fmadd_ps(x, _mm512_set1_ps(p3[j]), c3);
        }
        _mm512_storeu_ps(a0 + c, c0);
        if (rows > 1) _mm512_storeu_ps(a1 + c, c1);
        if (rows > 2) _mm512_storeu_ps(a2 + c, c2);
        if (rows > 3) _mm512_storeu_ps(a3 + c, c3);
    }
}

/* n halves to floats (F16C: exact, as Float.float16ToFloat). */
__attribute__((target("avx512f,f16c")))
static void halves(const uint16_t *h, int n, float *dst) {
    int i = 0;
    for (; i + L <= n; i += L) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (h + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(h[i]);
}

/* Per-thread scratch: the accumulator (BQ x hd) and one value tile (BK x hd). */
static __thread float *scratch;
static __thread int scratchHd;

/*
 * One work item of AttentionKernel.tile over keys [k0, k1) (k0 at a tile boundary of kT, whose
 * tiles for this kv head start at kT + kTBase). Writes out rows r0 .. r0+nq of head (qHeadOff / hd)
 * normalised, and ml[i] = running max (base 2), ml[nq + i] = sum, for the Java side's log-sum-exp.
 * Returns the visible (query, key) pairs, or -1 when out of memory.
 */
__attribute__((target("avx512f,fma,f16c")))
int64_t starattn_attention_tile(const float *q, int qStride, int qHeadOff, const int32_t *qPos, int r0, int nq,
                                const int32_t *kPos, int k0, int k1, const float *kT, int64_t kTBase,
                                const void *values, int valuesF16, int vStride, int vCol, int hd, float scale,
                                float *out, float *ml) {
    if (scratch == NULL || scratchHd < hd) {
        free(scratch);
        scratch = aligned_alloc(64, (size_t) (BQ + BK) * hd * sizeof(float));
        scratchHd = scratch ? hd : 0;
        if (!scratch) return -1;
    }
    float *acc = scratch, *vt = scratch + BQ * hd;
    float m[BQ], l[BQ], corr[4];
    float sc[4 * BK] __attribute__((aligned(64)));
    int qMax = INT32_MIN, qMin = INT32_MAX;
    for (int r = r0; r < r0 + nq; r++) {
        if (qPos[r] > qMax) qMax = qPos[r];
        if (qPos[r] < qMin) qMin = qPos[r];
    }
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0; }
    memset(acc, 0, (size_t) nq * hd * sizeof(float));
    int64_t visible = 0;
    for (int kb = k0; kb < k1; kb += BK) {
        int nk = k1 - kb < BK ? k1 - kb : BK;
        int tMin = INT32_MAX, tMax = INT32_MIN;
        for (int j = 0; j < nk; j++) {
            int p = kPos[kb + j];
            if (p < tMin) tMin = p;
            if (p > tMax) tMax = p;
        }
        if (tMin > qMax) continue;
        int needMask = tMax > qMin;
        if (!needMask) visible += (int64_t) nq * nk;
        const float *kt = kT + kTBase + (int64_t) ((kb - k0) / BK) * hd * BK;
        const float *v;
        int vs;
        if (valuesF16) {
            const uint16_t *h = (const uint16_t *) values;
            for (int j = 0; j < nk; j++) halves(h + (int64_t) (kb + j) * vStride + vCol, hd, vt + j * hd);
            v = vt;
            vs = hd;
        } else {
            v = (const float *) values + (int64_t) kb * vStride + vCol;
            vs = vStride;
        }
        for (int i = 0; i < nq; i += 4) {
            int rows = nq - i < 4 ? nq - i : 4;
            scores(q, qStride, qHeadOff, r0 + i, rows, hd, kt, scale, sc);
            for (int r = 0; r < rows; r++) {
                float *row = sc + r * BK;
                for (int j = nk; j < BK; j++) row[j] = -INFINITY;
                if (needMask) {
                    int qp = qPos[r0 + i + r];
                    for (int j = 0; j < nk; j++) {
                        if (kPos[kb + j] > qp) row[j] = -INFINITY;
                        else visible++;
                    }
                }
                float rowMax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(_mm512_loadu_ps(row), _mm512_loadu_ps(row + L)),
                        _mm512_max_ps(_mm512_loadu_ps(row + 2 * L), _mm512_loadu_ps(row + 3 * L))));  /* exact in any order */
                if (rowMax == -INFINITY) {
                    for (int j = 0; j < BK; j++) row[j] = 0;
                    corr[r] = 1;
                    continue;
                }
                int ri = i + r;
                float mOld = m[ri], mNew = mOld > rowMax ? mOld : rowMax;
                float c = mNew == mOld ? 1.0f : mOld == -INFINITY ? 0.0f : exp2_one(mOld - mNew);
                float sum = exp_in_place(row, mNew);
                float lc = l[ri] * c;
                l[ri] = lc + sum;
                m[ri] = mNew;
                corr[r] = c;
            }
            accumulate_pv(v, vs, nk, sc, rows, hd, acc + i * hd, corr);
        }
    }
    for (int i = 0; i < nq; i++) {
        float *o = out + (int64_t) (r0 + i) * qStride + qHeadOff;
        ml[i] = m[i];
        ml[nq + i] = l[i];
        if (l[i] == 0) {
            memset(o, 0, (size_t) hd * sizeof(float));
            continue;
        }
        float inv = 1.0f / l[i];
        for (int d = 0; d < hd; d++) o[d] = acc[i * hd + d] * inv;
    }
    return visible;
}

/* kt[ktOff + d * stride + j] = half(K[from + j][col + d]) for j < n, d < hd: AttentionKernel's key tiles from an f16 cache. */
__attribute__((target("avx512f,f16c")))
void starattn_f16_keys_transposed(const uint16_t *k, int rowSize, int from, int n, int col, int hd,
                                  float *kt, int stride, int64_t ktOff) {
    float row[1024];
    for (int j = 0; j < n; j++) {
        for (int d0 = 0; d0 < hd; d0 += 1024) {
            int m = hd - d0 < 1024 ? hd - d0 : 1024;
            halves(k + (int64_t) (from + j) * rowSize + col + d0, m, row);
            for (int d = 0; d < m; d++) kt[ktOff + (int64_t) (d0 + d) * stride + j] = row[d];
        }
    }
}
