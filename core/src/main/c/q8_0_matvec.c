/*
 * Q8_0 matrix times an activation vector quantized to int16 per block of 32, for decode (one token).
 * Built by Maven when gcc is present (core/pom.xml) and called from dev.starattn.tensor.NativeQ8
 * through FFM; the Java kernel is the fallback.
 *
 * Why int16 and not int8 activations (llama.cpp's q8_0 x q8_0): with int8 activations the logits moved
 * by up to about 0.2 from the f32 kernel's, enough to change greedy tokens in the llama.cpp oracle tests
 * (our prefill keeps f32 activations, so this noise adds to llama.cpp's instead of matching it). An int16
 * block keeps the activation to 1/65534 of its block maximum, and the products are still integer
 * multiply-adds (vpmaddwd) on sign-extended weights: as few instructions per block, and decode is bound
 * by reading the weights.
 *
 * Weights: rows of ggml Q8_0 blocks (f16 scale, 32 int8). Activation: xq[cols] int16, in -32767..32767;
 * xd[cols / 32] f32 block scales. out[r - r0] = sum over blocks of wd * xd * (int) sum_i wq_i * xq_i.
 *
 * The CPU's best kernel is chosen at run time (the .so may run on another x86-64 than it was built on).
 */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

/*
 * Bytes ahead of the read position to prefetch. The rows of a range are contiguous, so this streams
 * the range; without it the hardware prefetcher left one core at 7 GB/s on a 26 MB matrix where a plain
 * streaming read reached 30 GB/s (8 KB ahead: 22-40 GB/s).
 */
#define PREFETCH 8192

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, em = h & 0x7FFF, bits;
    if (em >= 0x7C00) bits = sign | 0x7F800000u | ((em & 0x3FF) << 13);   /* inf, NaN */
    else {
        float f; uint32_t u = em << 13; memcpy(&f, &u, 4); f *= 0x1p112f;  /* normals and subnormals */
        memcpy(&bits, &f, 4); bits |= sign;
    }
    float r; memcpy(&r, &bits, 4); return r;
}

static void matvec_scalar(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,
                          const int16_t *xq, const float *xd, float *out) {
    int nb = cols / 32;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (int64_t) r * rowBytes;
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = row + 34 * b;
            uint16_t h; memcpy(&h, blk, 2);
            const int8_t *q = (const int8_t *) (blk + 2);
            int32_t s = 0;
            for (int i = 0; i < 32; i++) s += q[i] * xq[32 * b + i];
            acc += half_to_float(h) * xd[b] * (float) s;
        }
        out[r - r0] = acc;
    }
}

__attribute__((target("avx2")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One block: 32 sign-extended weights times 32 int16 activations, summed to 8 int32 lanes. */
__attribute__((target("avx2")))
static inline __m256i block_dot_avx2(const uint8_t *blk, const int16_t *x) {
    __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (blk + 2)));
    __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (blk + 18)));
    return _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *) x)),
                            _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *) (x + 16))));
}

/* Two rows at a time share the activation loads. */
__attribute__((target("avx2,fma,f16c")))
static void matvec_avx2(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,
                        const int16_t *xq, const float *xd, float *out) {
    int nb = cols / 32, r = r0;
    for (; r + 1 < r1; r += 2) {
        const uint8_t *a = w + (int64_t) r * rowBytes, *c = a + rowBytes;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *ba = a + 34 * b, *bc = c + 34 * b;
            _mm_prefetch((const char *) a + 68 * b + PREFETCH, _MM_HINT_T0);
            float dx = xd[b];
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot_avx2(ba, xq + 32 * b)), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) ba) * dx), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot_avx2(bc, xq + 32 * b)), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) bc) * dx), acc1);
        }
        out[r - r0] = hsum256(acc0);
        out[r + 1 - r0] = hsum256(acc1);
    }
    for (; r < r1; r++) {
        const uint8_t *a = w + (int64_t) r * rowBytes;
        __m256 acc0 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *ba = a + 34 * b;
            _mm_prefetch((const char *) ba + PREFETCH, _MM_HINT_T0);
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot_avx2(ba, xq + 32 * b)), _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) ba) * xd[b]), acc0);
        }
        out[r - r0] = hsum256(acc0);
    }
}

/* A block in one register: 32 weights sign-extended to int16 (vpmovsxbw), one vpmaddwd to 16 int32. */
__attribute__((target("avx512f,avx512bw")))
static inline __m512i block_dot_avx512(const uint8_t *blk, __m512i x) {
    return _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (blk + 2))), x);
}

__attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))
static void matvec_avx512(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,
                          const int16_t *xq, const float *xd, float *out) {
    int nb = cols / 32, r = r0;
    for (; r + 1 < r1; r += 2) {
        const uint8_t *a = w + (int64_t) r * rowBytes, *c = a + rowBytes;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *ba = a + 34 * b, *bc = c + 34 * b;
            _mm_prefetch((const char *) a + 68 * b + PREFETCH, _MM_HINT_T0);
            __m512i x = _mm512_loadu_si512((const void *) (xq + 32 * b));
            float dx = xd[b];
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_dot_avx512(ba, x)), _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *) ba) * dx), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_dot_avx512(bc, x)), _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *) bc) * dx), acc1);
        }
        out[r - r0] = _mm512_reduce_add_ps(acc0);
        out[r + 1 - r0] = _mm512_reduce_add_ps(acc1);
    }
    for (; r < r1; r++) {
        const uint8_t *a = w + (int64_t) r * rowBytes;
        __m512 acc0 = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *ba = a + 34 * b;
            _mm_prefetch((const char *) ba + PREFETCH, _MM_HINT_T0);
            __m512i x = _mm512_loadu_si512((const void *) (xq + 32 * b));
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_dot_avx512(ba, x)), _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *) ba) * xd[b]), acc0);
        }
        out[r - r0] = _mm512_reduce_add_ps(acc0);
    }
}

typedef void (*matvec_fn)(const uint8_t *, int64_t, int, int, int, const int16_t *, const float *, float *);
static matvec_fn chosen;
static int level = -1;

/* 2: AVX-512 (BW), 1: AVX2, 0: portable C. */
int starattn_q8_level(void) {
    if (level < 0) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) { level = 2; chosen = matvec_avx512; }
        else if (avx2) { level = 1; chosen = matvec_avx2; }
        else { level = 0; chosen = matvec_scalar; }
    }
    return level;
}

void starattn_q8_matvec(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,
                        const int16_t *xq, const float *xd, float *out) {
    if (level < 0) starattn_q8_level();
    chosen(w, rowBytes, r0, r1, cols, xq, xd, out);
}

/*
 * Rows [r0, r1) of a Q8_0 matrix dequantized to f32 (dst rows of cols floats): d * q, one rounding,
 * so the same bits as the Java kernel's on any CPU. For the prefill GEMM, whose Java dequantization
 * runs boxed vectors until C2 has compiled it (the first chunk of a cold start).
 */
__attribute__((target("avx512f,avx512bw,f16c")))
static void dequant_avx512(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols, float *dst) {
    int nb = cols / 32;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (int64_t) r * rowBytes;
        float *o = dst + (int64_t) (r - r0) * cols;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = row + 34 * b;
            __m512 d = _mm512_set1_ps(_cvtsh_ss(*(const uint16_t *) blk));
            __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (blk + 2)));
            __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (blk + 18)));
            _mm512_storeu_ps(o + 32 * b, _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d));
            _mm512_storeu_ps(o + 32 * b + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d));
        }
    }
}

static void dequant_scalar(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols, float *dst) {
    int nb = cols / 32;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (int64_t) r * rowBytes;
        float *o = dst + (int64_t) (r - r0) * cols;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = row + 34 * b;
            uint16_t h; memcpy(&h, blk, 2);
            float d = half_to_float(h);
            for (int i = 0; i < 32; i++) o[32 * b + i] = (float) ((const int8_t *) (blk + 2))[i] * d;
        }
    }
}

void starattn_q8_dequant(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols, float *dst) {
    if (level < 0) starattn_q8_level();
    if (level == 2) dequant_avx512(w, rowBytes, r0, r1, cols, dst);
    else dequant_scalar(w, rowBytes, r0, r1, cols, dst);
}
