/*
 * Q8_0 matrix times a Q8_0-quantized vector, for decode (one token): the integer dot products that
 * llama.cpp uses (q8_0 x q8_0). Built by Maven when gcc is present (core/pom.xml) and called from
 * dev.starattn.tensor.NativeQ8 through FFM; the Java kernel is the fallback.
 *
 * Weights: rows of ggml Q8_0 blocks (f16 scale, 32 int8). Activation: xq[cols] int8 (x / d rounded),
 * xa[cols] = |xq|, xd[cols / 32] the block scales as f32 (already rounded to f16, as llama.cpp keeps them).
 * out[r - r0] = sum over blocks of wd * xd * (int) sum_i wq_i * xq_i, for rows [r0, r1).
 *
 * The CPU's best kernel is chosen at run time (the .so may run on another x86-64 than it was built on).
 */
#include <stdint.h>
#include <string.h>
#include <immintrin.h>

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
                          const int8_t *xq, const int8_t *xa, const float *xd, float *out) {
    (void) xa;
    int nb = cols / 32;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = w + (int64_t) r * rowBytes;
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = row + 34 * b;
            uint16_t h; memcpy(&h, blk, 2);
            const int8_t *q = (const int8_t *) (blk + 2);
            int s = 0;
            for (int i = 0; i < 32; i++) s += q[i] * xq[32 * b + i];
            acc += half_to_float(h) * xd[b] * (float) s;
        }
        out[r - r0] = acc;
    }
}

static inline float hsum256(__m256 v) __attribute__((target("avx2")));
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * Bytes ahead of the read position to prefetch. The rows of a range are contiguous, so this streams
 * the range; without it, the hardware prefetcher left one core at 7 GB/s on a 26 MB matrix where a
 * plain streaming read reached 30 GB/s (8 KB ahead: 22 GB/s).
 */
#define PREFETCH 8192

/* Two rows at a time share the activation loads; per block: sign-fold, dot, convert, scale. */
#define Q8_KERNEL(NAME, TARGET, DOT)                                                                  \
__attribute__((target(TARGET)))                                                                        \
static void NAME(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,                        \
                 const int8_t *xq, const int8_t *xa, const float *xd, float *out) {                    \
    int nb = cols / 32, r = r0;                                                                        \
    for (; r + 1 < r1; r += 2) {                                                                       \
        const uint8_t *a = w + (int64_t) r * rowBytes, *c = a + rowBytes;                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                 \
        for (int b = 0; b < nb; b++) {                                                                 \
            __m256i x = _mm256_loadu_si256((const __m256i *) (xq + 32 * b));                           \
            __m256i ax = _mm256_loadu_si256((const __m256i *) (xa + 32 * b));                          \
            __m256 dx = _mm256_set1_ps(xd[b]);                                                         \
            const uint8_t *ba = a + 34 * b, *bc = c + 34 * b;                                          \
            _mm_prefetch((const char *) a + 68 * b + PREFETCH, _MM_HINT_T0);                           \
            __m256i wa = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *) (ba + 2)), x);          \
            __m256i wc = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *) (bc + 2)), x);          \
            __m256 da = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) ba)), dx);          \
            __m256 dc = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) bc)), dx);          \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(ax, wa)), da, acc0);                         \
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(ax, wc)), dc, acc1);                         \
        }                                                                                              \
        out[r - r0] = hsum256(acc0);                                                                   \
        out[r + 1 - r0] = hsum256(acc1);                                                               \
    }                                                                                                  \
    for (; r < r1; r++) {                                                                              \
        const uint8_t *a = w + (int64_t) r * rowBytes;                                                 \
        __m256 acc0 = _mm256_setzero_ps();                                                             \
        for (int b = 0; b < nb; b++) {                                                                 \
            __m256i x = _mm256_loadu_si256((const __m256i *) (xq + 32 * b));                           \
            __m256i ax = _mm256_loadu_si256((const __m256i *) (xa + 32 * b));                          \
            const uint8_t *ba = a + 34 * b;                                                            \
            _mm_prefetch((const char *) ba + PREFETCH, _MM_HINT_T0);                                   \
            __m256i wa = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *) (ba + 2)), x);          \
            __m256 da = _mm256_set1_ps(_cvtsh_ss(*(const uint16_t *) ba) * xd[b]);                     \
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(ax, wa)), da, acc0);                         \
        }                                                                                              \
        out[r - r0] = hsum256(acc0);                                                                   \
    }                                                                                                  \
}

/* |x| (unsigned) times sign-folded w (signed), summed in fours: VNNI in one instruction. */
#define DOT_VNNI(ax, sw) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sw)
/* Without VNNI: pairs to int16 (|x|, |w| <= 128: no saturation for 127-bounded x), then to int32. */
#define DOT_AVX2(ax, sw) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1))

Q8_KERNEL(matvec_avx512vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", DOT_VNNI)
Q8_KERNEL(matvec_avxvnni, "avx2,fma,f16c,avxvnni", DOT_VNNI)
Q8_KERNEL(matvec_avx2, "avx2,fma,f16c", DOT_AVX2)

typedef void (*matvec_fn)(const uint8_t *, int64_t, int, int, int, const int8_t *, const int8_t *, const float *, float *);
static matvec_fn chosen;
static int level = -1;

/* 3: AVX-512 VNNI, 2: AVX-VNNI, 1: AVX2, 0: portable C. */
int starattn_q8_level(void) {
    if (level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma")) { level = 3; chosen = matvec_avx512vnni; }
        else if (__builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { level = 2; chosen = matvec_avxvnni; }
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { level = 1; chosen = matvec_avx2; }
        else { level = 0; chosen = matvec_scalar; }
    }
    return level;
}

void starattn_q8_matvec(const uint8_t *w, int64_t rowBytes, int r0, int r1, int cols,
                        const int8_t *xq, const int8_t *xa, const float *xd, float *out) {
    if (level < 0) starattn_q8_level();
    chosen(w, rowBytes, r0, r1, cols, xq, xa, xd, out);
}
