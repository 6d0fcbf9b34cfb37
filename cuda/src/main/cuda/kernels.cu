// starattn CUDA kernels. Built by cuda/build-kernels.sh into a fatbin (sm_90 SASS + compute_90 PTX)
// that ships as a resource and is loaded with cuModuleLoadData. All entry points are extern "C".
// Layouts are token-major, as on the CPU: x[t * dim + i]; q[(t * heads + h) * hd + d];
// KV rows [t][kvHead][hd]; partial outputs [row][head][hd], lse [row][head] (natural log).
#include <cuda_bf16.h>
#include <stdint.h>
#include <math.h>

#define WARP 32

__device__ __forceinline__ float warpSum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}
__device__ __forceinline__ float warpMax(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}

// Gathers embedding rows (bf16 table [vocab][dim]) of tokens into x (f32). grid: n, block: 256.
extern "C" __global__ void embed_bf16(const __nv_bfloat16* __restrict__ table, const int* __restrict__ tokens,
                                      float* __restrict__ x, int dim) {
    int t = blockIdx.x;
    const __nv_bfloat16* row = table + (size_t)tokens[t] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) x[(size_t)t * dim + i] = __bfloat162float(row[i]);
}

// out = bf16(x * rsqrt(mean(x^2) + eps) * w), one block (256 threads) per row; sum in f32 per thread,
// combined in double is unnecessary on GPU: f32 pairwise reduction is accurate enough for dims <= 16k.
extern "C" __global__ void rmsnorm_bf16(const float* __restrict__ x, const float* __restrict__ w,
                                        __nv_bfloat16* __restrict__ out, int dim, float eps) {
    __shared__ float red[32];
    int t = blockIdx.x;
    const float* xr = x + (size_t)t * dim;
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i] * xr[i];
    s = warpSum(s);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.f;
        v = warpSum(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    float inv = rsqrtf(red[0] / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        out[(size_t)t * dim + i] = __float2bfloat16(xr[i] * inv * w[i]);
}

// In place x[r] = x[r] * rsqrt(mean(x[r]^2) + eps) * w over rows of width dim (Qwen3's per-head Q/K norm:
// rows = tokens * heads, dim = head size), f32 throughout. One block (256 threads) per row.
extern "C" __global__ void rmsnorm_rows_f32(float* __restrict__ x, const float* __restrict__ w, int dim, float eps) {
    __shared__ float red[32];
    float* xr = x + (size_t)blockIdx.x * dim;
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i] * xr[i];
    s = warpSum(s);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.f;
        v = warpSum(v);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    float inv = rsqrtf(red[0] / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) xr[i] = xr[i] * inv * w[i];
}

// x[t][i] += b[i] (qkv bias). grid-stride over n*d.
extern "C" __global__ void add_bias(float* __restrict__ x, const float* __restrict__ b, int n, int d) {
    size_t total = (size_t)n * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        x[i] += b[i % d];
}

// RoPE in place on x (n rows of heads*hd) at position ids pos[t]; invFreq[ropeDim/2].
// neox: rotate (x[i], x[i+ropeDim/2]); else adjacent pairs (x[2i], x[2i+1]).
// The angle is p * invFreq in f32 (as PyTorch and llama.cpp), then sin/cos accurately.
extern "C" __global__ void rope(float* __restrict__ x, const int* __restrict__ pos, const float* __restrict__ invFreq,
                                int n, int heads, int hd, int ropeDim, int neox) {
    int pairs = ropeDim / 2;
    size_t total = (size_t)n * heads * pairs;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(idx % pairs);
        size_t th = idx / pairs;          // t * heads + h
        int t = (int)(th / heads);
        float angle = (float)pos[t] * invFreq[i];
        double sd, cd;
        sincos((double)angle, &sd, &cd);
        float s = (float)sd, c = (float)cd;
        float* base = x + th * hd;
        int a = neox ? i : 2 * i;
        int b = neox ? i + pairs : 2 * i + 1;
        float x0 = base[a], x1 = base[b];
        base[a] = x0 * c - x1 * s;
        base[b] = x0 * s + x1 * c;
    }
}

// RoPE of the queries, as rope() above, that also writes them rounded to bf16 into qb (n rows of heads*hd):
// cuDNN's fused attention reads bf16 q, and rounding here saves a pass over q (read f32, write bf16) before
// every prefill attention. One thread per element pair of a head, hd/2 of them: pairs below ropeDim/2 are
// rotated, the rest (ropeDim < hd) only rounded.
extern "C" __global__ void rope_q_bf16(float* __restrict__ x, __nv_bfloat16* __restrict__ qb, const int* __restrict__ pos,
                                       const float* __restrict__ invFreq, int n, int heads, int hd, int ropeDim, int neox) {
    int pairs = ropeDim / 2, slots = hd / 2;
    size_t total = (size_t)n * heads * slots;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(idx % slots);
        size_t th = idx / slots;          // t * heads + h
        float* base = x + th * hd;
        __nv_bfloat16* out = qb + th * hd;
        if (i >= pairs) {
            int a = ropeDim + 2 * (i - pairs);
            out[a] = __float2bfloat16(base[a]);
            out[a + 1] = __float2bfloat16(base[a + 1]);
            continue;
        }
        int t = (int)(th / heads);
        float angle = (float)pos[t] * invFreq[i];
        double sd, cd;
        sincos((double)angle, &sd, &cd);
        float s = (float)sd, c = (float)cd;
        int a = neox ? i : 2 * i;
        int b = neox ? i + pairs : 2 * i + 1;
        float x0 = base[a], x1 = base[b];
        float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
        base[a] = r0;
        base[b] = r1;
        out[a] = __float2bfloat16(r0);
        out[b] = __float2bfloat16(r1);
    }
}

// out = bf16(silu(g) * u). grid-stride.
extern "C" __global__ void swiglu_bf16(const float* __restrict__ g, const float* __restrict__ u,
                                       __nv_bfloat16* __restrict__ out, size_t total) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        float a = g[i];
        out[i] = __float2bfloat16(a / (1.f + expf(-a)) * u[i]);
    }
}

extern "C" __global__ void f32_to_bf16(const float* __restrict__ x, __nv_bfloat16* __restrict__ out, size_t total) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16(x[i]);
}

// Q8_0 (blocks of 32: f16 scale, 32 x int8) -> bf16. One thread per block of 32 values.
extern "C" __global__ void dequant_q8_0_bf16(const uint8_t* __restrict__ src, __nv_bfloat16* __restrict__ out, size_t blocks) {
    for (size_t b = blockIdx.x * (size_t)blockDim.x + threadIdx.x; b < blocks; b += (size_t)gridDim.x * blockDim.x) {
        const uint8_t* p = src + b * 34;
        __half_raw hr;
        hr.x = (unsigned short)(p[0] | (p[1] << 8));
        float d = __half2float(__half(hr));
        const int8_t* q = (const int8_t*)(p + 2);
        for (int j = 0; j < 32; j++) out[b * 32 + j] = __float2bfloat16(d * (float)q[j]);
    }
}

__device__ __forceinline__ float toF32(float x) { return x; }
__device__ __forceinline__ float toF32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ void fromF32(float& d, float x) { d = x; }
__device__ __forceinline__ void fromF32(__nv_bfloat16& d, float x) { d = __float2bfloat16(x); }

// Fills n bf16 with normal(0, std) draws from a counter-based hash (splitmix64, Box-Muller): random
// weights for speed benchmarks of large shapes, no host upload.
__device__ __forceinline__ uint64_t splitmix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
extern "C" __global__ void fill_normal_bf16(__nv_bfloat16* __restrict__ out, size_t n, uint64_t seed, float std) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint64_t h = splitmix64(seed * 0x100000001b3ull + i);
        float u1 = ((h >> 40) + 1) * (1.0f / 16777217.0f), u2 = ((h >> 16) & 0xffffff) * (1.0f / 16777216.0f);
        out[i] = __float2bfloat16(std * sqrtf(-2.f * logf(u1)) * cospif(2.f * u2));
    }
}

// Copies n KV rows (rowSize f32 each, stored as T) and their positions into the cache at row offset `at`, or at
// *dynAt when dynAt is set: a decode step replayed from a CUDA graph reads its write offset from device memory,
// since a graph's kernel arguments are fixed when it is captured.
template <typename T>
__device__ void kvAppend(T* __restrict__ K, T* __restrict__ V, int* __restrict__ kpos, const float* __restrict__ k,
                         const float* __restrict__ v, const int* __restrict__ pos, int n, int rowSize, int at,
                         const int* __restrict__ dynAt) {
    if (dynAt) at = *dynAt;
    size_t total = (size_t)n * rowSize;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        fromF32(K[(size_t)at * rowSize + i], k[i]);
        fromF32(V[(size_t)at * rowSize + i], v[i]);
        if (i < (size_t)n) kpos[at + i] = pos[i];
    }
}
extern "C" __global__ void kv_append(float* K, float* V, int* kpos, const float* k, const float* v, const int* pos,
                                     int n, int rowSize, int at, const int* dynAt) {
    kvAppend(K, V, kpos, k, v, pos, n, rowSize, at, dynAt);
}
extern "C" __global__ void kv_append_bf16(__nv_bfloat16* K, __nv_bfloat16* V, int* kpos, const float* k, const float* v,
                                          const int* pos, int n, int rowSize, int at, const int* dynAt) {
    kvAppend(K, V, kpos, k, v, pos, n, rowSize, at, dynAt);
}

// Flash-attention forward with log-sum-exp, causal by position id (key visible iff kpos <= qpos),
// grouped-query heads, f32 arithmetic over an f32 or bf16 cache (T). grid: (ceil(rows / 16), heads, splits); block: 128 threads
// (4 warps, 4 query rows per warp). Keys [k0, k1) are cut into `splits` contiguous chunks; split s
// writes its partial to out + s * rows*heads*hd and lse + s * rows*heads (normalised, lse = -inf and
// out = 0 when it saw no key), and lse_merge folds the splits (the decode path).
// Keys are staged in shared memory KT at a time (rows padded by one float against bank conflicts).
#define QT 16
#define MAXD 8   // head_dim <= 256
template <typename T>
__device__ void flashAttnF32(
        const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,
        const T* __restrict__ K, const T* __restrict__ V, const int* __restrict__ kpos,
        int kvHeads, int hd, int k0, int k1, float scale,
        float* __restrict__ out, float* __restrict__ lse, int KT) {
    extern __shared__ float smem[];
    float* Ks = smem;                       // KT x (hd + 1)
    float* Vs = Ks + KT * (hd + 1);         // KT x hd
    float* Qs = Vs + KT * hd;               // QT x hd
    int* Ps = (int*)(Qs + QT * hd);         // KT positions
    int head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    int kvh = head / (heads / kvHeads);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int r0 = blockIdx.x * QT;
    int keys = k1 - k0;
    int per = (keys + splits - 1) / splits;
    int s0 = k0 + split * per, s1 = min(k1, s0 + per);
    size_t rowSize = (size_t)kvHeads * hd;
    for (int i = threadIdx.x; i < QT * hd; i += blockDim.x) {
        int r = r0 + i / hd;
        Qs[i] = r < rows ? q[((size_t)r * heads + head) * hd + (i % hd)] * scale : 0.f;
    }
    float m[4], l[4], acc[4][MAXD];
    int myPos[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        m[j] = -INFINITY; l[j] = 0.f;
        int r = r0 + warp * 4 + j;
        myPos[j] = r < rows ? qpos[r] : INT_MIN;
#pragma unroll
        for (int d = 0; d < MAXD; d++) acc[j][d] = 0.f;
    }
    int maxPos = INT_MIN;
    for (int r = r0; r < min(rows, r0 + QT); r++) maxPos = max(maxPos, qpos[r]);
    for (int t0 = s0; t0 < s1; t0 += KT) {
        int nk = min(KT, s1 - t0);
        __syncthreads();
        for (int i = threadIdx.x; i < KT; i += blockDim.x) Ps[i] = i < nk ? kpos[t0 + i] : INT_MAX;
        for (int i = threadIdx.x; i < nk * hd; i += blockDim.x) {
            int kk = i / hd, d = i % hd;
            size_t g = (size_t)(t0 + kk) * rowSize + (size_t)kvh * hd + d;
            Ks[kk * (hd + 1) + d] = toF32(K[g]);
            Vs[kk * hd + d] = toF32(V[g]);
        }
        __syncthreads();
        // Skip a tile wholly in the causal future of every row of this block.
        int minK = INT_MAX;
        for (int i = 0; i < nk; i++) minK = min(minK, Ps[i]);
        if (minK > maxPos) continue;
        for (int kb = 0; kb < nk; kb += 32) {
            int kk = kb + lane;
            bool have = kk < nk;
            int kp = have ? Ps[kk] : INT_MAX;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float* qr = Qs + (warp * 4 + j) * hd;
                float s = -INFINITY;
                if (have && kp <= myPos[j]) {
                    float dot = 0.f;
                    const float* kr = Ks + kk * (hd + 1);
                    for (int d = 0; d < hd; d++) dot += qr[d] * kr[d];
                    s = dot;
                }
                float mx = warpMax(s);
                if (mx == -INFINITY) continue;   // no visible key in these 32 for this row
                float mNew = fmaxf(m[j], mx);
                float alpha = __expf(m[j] - mNew);
                float p = s == -INFINITY ? 0.f : __expf(s - mNew);
                l[j] = l[j] * alpha + warpSum(p);
                m[j] = mNew;
#pragma unroll
                for (int d = 0; d < MAXD; d++) acc[j][d] *= alpha;
                int cnt = min(32, nk - kb);
                for (int e = 0; e < cnt; e++) {
                    float pe = __shfl_sync(0xffffffff, p, e);
                    if (pe == 0.f) continue;
                    const float* vr = Vs + (kb + e) * hd;
#pragma unroll
                    for (int d = 0; d < MAXD; d++) {
                        int dd = lane + d * 32;
                        if (dd < hd) acc[j][d] += pe * vr[dd];
                    }
                }
            }
        }
    }
    size_t plane = (size_t)rows * heads;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        int r = r0 + warp * 4 + j;
        if (r >= rows) continue;
        size_t rh = (size_t)r * heads + head;
        float inv = l[j] > 0.f ? 1.f / l[j] : 0.f;
        float* o = out + (size_t)split * plane * hd + rh * hd;
#pragma unroll
        for (int d = 0; d < MAXD; d++) {
            int dd = lane + d * 32;
            if (dd < hd) o[dd] = acc[j][d] * inv;
        }
        if (lane == 0) lse[(size_t)split * plane + rh] = l[j] > 0.f ? m[j] + logf(l[j]) : -INFINITY;
    }
}

extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd(
        const float* q, const int* qpos, int rows, int heads, const float* K, const float* V, const int* kpos,
        int kvHeads, int hd, int k0, int k1, float scale, float* out, float* lse, int KT) {
    flashAttnF32(q, qpos, rows, heads, K, V, kpos, kvHeads, hd, k0, k1, scale, out, lse, KT);
}
extern "C" __global__ void __launch_bounds__(128) flash_attn_fwd_bf16kv(
        const float* q, const int* qpos, int rows, int heads, const __nv_bfloat16* K, const __nv_bfloat16* V,
        const int* kpos, int kvHeads, int hd, int k0, int k1, float scale, float* out, float* lse, int KT) {
    flashAttnF32(q, qpos, rows, heads, K, V, kpos, kvHeads, hd, k0, k1, scale, out, lse, KT);
}

// Merge of many partials for few (row, head)s: decode's key splits (tens of them for a handful of rows). One
// block (128 threads) per (row, head): the P weights exp(lse_p - max) computed once into shared memory (dynamic,
// P floats), then each thread sums its dims over P with loads coalesced across the block. lse_merge, a warp per
// (row, head) walking P serially for every dim, is latency-bound there (tens of microseconds at P = 66).
__device__ __forceinline__ float blockReduce(float v, bool max, float* red) {
    v = max ? warpMax(v) : warpSum(v);
    int warps = (blockDim.x + 31) >> 5;
    __syncthreads();  // red may still be read by a previous reduction
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = red[0];
    for (int i = 1; i < warps; i++) r = max ? fmaxf(r, red[i]) : r + red[i];
    return r;
}
extern "C" __global__ void __launch_bounds__(128) lse_merge_wide(const float* __restrict__ parts, const float* __restrict__ lses,
                                                                 int P, int rh, int hd, float* __restrict__ out,
                                                                 float* __restrict__ lseOut) {
    extern __shared__ float w[];
    __shared__ float red[32];
    int row = blockIdx.x;
    float m = -INFINITY;
    for (int p = threadIdx.x; p < P; p += blockDim.x) m = fmaxf(m, lses[(size_t)p * rh + row]);
    m = blockReduce(m, true, red);
    if (m == -INFINITY) {  // no partial saw a key (uniform over the block)
        for (int d = threadIdx.x; d < hd; d += blockDim.x) out[(size_t)row * hd + d] = 0.f;
        if (threadIdx.x == 0) lseOut[row] = -INFINITY;
        return;
    }
    float s = 0.f;
    for (int p = threadIdx.x; p < P; p += blockDim.x) {
        float e = expf(lses[(size_t)p * rh + row] - m);
        w[p] = e;
        s += e;
    }
    s = blockReduce(s, false, red);  // its barriers also publish w
    float inv = 1.f / s;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.f;
#pragma unroll 8
        for (int p = 0; p < P; p++) {
            float wp = w[p];
            if (wp != 0.f) a += wp * parts[((size_t)p * rh + row) * hd + d];
        }
        out[(size_t)row * hd + d] = a * inv;
    }
    if (threadIdx.x == 0) lseOut[row] = m + logf(s);
}

#include "flash_attn_tc.cuh"
#include "flash_attn_wg.cuh"
#include "flash_decode.cuh"
#include "flash_decode_tiled.cuh"

// Exact merge of P partials over disjoint key sets: parts [P][rh][hd], lses [P][rh] ->
// out [rh][hd], lseOut [rh]. One warp per (row, head); max-subtracted, f32.
extern "C" __global__ void lse_merge(const float* __restrict__ parts, const float* __restrict__ lses, int P,
                                     int rh, int hd, float* __restrict__ out, float* __restrict__ lseOut) {
    int w = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= rh) return;
    float m = -INFINITY;
    for (int p = 0; p < P; p++) m = fmaxf(m, lses[(size_t)p * rh + w]);
    if (m == -INFINITY) {
        for (int d = lane; d < hd; d += 32) out[(size_t)w * hd + d] = 0.f;
        if (lane == 0) lseOut[w] = -INFINITY;
        return;
    }
    float sum = 0.f;
    for (int p = 0; p < P; p++) sum += expf(lses[(size_t)p * rh + w] - m);
    for (int d = lane; d < hd; d += 32) {
        float a = 0.f;
        for (int p = 0; p < P; p++) {
            float wp = expf(lses[(size_t)p * rh + w] - m) / sum;
            if (wp != 0.f) a += wp * parts[((size_t)p * rh + w) * hd + d];
        }
        out[(size_t)w * hd + d] = a;
    }
    if (lane == 0) lseOut[w] = m + logf(sum);
}
