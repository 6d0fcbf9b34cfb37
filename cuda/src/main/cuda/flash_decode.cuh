// Decode attention over a bf16 cache ("flash decoding"): a few query rows against many keys, split over the
// keys, every split's partial and LSE written as flash_attn_fwd's splits are (lse_merge folds them).
//
// Why a kernel of its own: decode is a pass over the KV cache and nothing else, so what sets its time is how
// many bytes are in flight. flash_attn_fwd stages 32 keys at a time through shared memory with scalar loads
// and one warp busy per query row, which leaves the H200's memory idle most of the time (1.3 ms per layer at
// 32K keys, 40x the read time). Here each block owns one kv head and one split: all NQ = rows x (heads /
// kvHeads) query vectors of that kv head share every K/V load (a key is read once, not once per query head),
// each lane holds 8 dims of a key (one 16-byte load), a warp covers 32 / (HD / 8) keys a step, and U steps
// of loads are issued before any is used. Each lane group keeps its own online softmax over the keys it saw;
// the groups, then the warps, are folded by log-sum-exp at the end.
//
// grid: (kvHeads, splits); block: 128 threads. q: rows x heads x HD (f32, RoPE applied); K, V: positions x
// kvHeads x HD (bf16); a key is visible to row r iff kpos[key] <= qpos[r]. Split s covers keys
// [k0 + s * per, k0 + (s + 1) * per) and writes out + s * rows*heads*HD, lse + s * rows*heads (normalised;
// out = 0, lse = -inf where it saw no visible key). dynK1, when set, replaces k1 by *dynK1 (a decode step
// replayed from a CUDA graph: the grid, the split count, is fixed at capture; the key count is read at run time).

__device__ __forceinline__ void bf16x8ToF32(uint4 u, float f[8]) {
    unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        f[2 * i] = __uint_as_float(w[i] << 16);           // element 2i is the low half (little-endian)
        f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
}

// Folds the softmax state (m2, l2, acc2) into (m, l, acc); either may be empty (m = -inf).
__device__ __forceinline__ void foldState(float& m, float& l, float acc[8], float m2, float l2, const float acc2[8]) {
    float mNew = fmaxf(m, m2);
    if (mNew == -INFINITY) return;
    float a1 = __expf(m - mNew), a2 = __expf(m2 - mNew);
    l = l * a1 + l2 * a2;
#pragma unroll
    for (int i = 0; i < 8; i++) acc[i] = acc[i] * a1 + acc2[i] * a2;
    m = mNew;
}

// The end of a decode block: the warps' softmax states (max sM, sum sL, unnormalised accumulators sAcc, laid
// out [WARPS][NQ] and [WARPS][NQ][HD] in shared memory, complete: the caller has synchronised) folded by
// log-sum-exp into this split's normalised output and LSE for each of the nq query vectors.
template <int NQ, int HD, int WARPS>
__device__ __forceinline__ void decodeWriteSplit(const float* sM, const float* sL, const float* sAcc, int nq, int group, int kvh,
                                                 int rows, int heads, int split, float* __restrict__ out, float* __restrict__ lse) {
    size_t plane = (size_t)rows * heads;
    for (int e = threadIdx.x; e < nq * HD; e += blockDim.x) {
        int j = e / HD, d = e % HD;
        float mm = -INFINITY;
#pragma unroll
        for (int w = 0; w < WARPS; w++) mm = fmaxf(mm, sM[w * NQ + j]);
        float ll = 0.f, a = 0.f;
        if (mm != -INFINITY) {
#pragma unroll
            for (int w = 0; w < WARPS; w++) {
                float f = __expf(sM[w * NQ + j] - mm);
                ll += sL[w * NQ + j] * f;
                a += sAcc[(w * NQ + j) * HD + d] * f;
            }
        }
        int r = j / group, head = kvh * group + j % group;
        size_t rh = (size_t)r * heads + head;
        out[(size_t)split * plane * HD + rh * HD + d] = ll > 0.f ? a / ll : 0.f;
        if (d == 0) lse[(size_t)split * plane + rh] = ll > 0.f ? mm + logf(ll) : -INFINITY;
    }
}

template <int NQ, int HD>
__device__ void flashDecode(const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,
                            const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V,
                            const int* __restrict__ kpos, int kvHeads, int k0, int k1, const int* __restrict__ dynK1, float scale,
                            float* __restrict__ out, float* __restrict__ lse) {
    constexpr int LPK = HD / 8;        // lanes per key
    constexpr int KPW = 32 / LPK;      // keys per warp step
    constexpr int WARPS = 4;
    constexpr int U = 4;               // key steps whose loads are in flight at once
    constexpr int STEP = WARPS * KPW;  // keys per block step
    __shared__ float sAcc[WARPS][NQ][HD];
    __shared__ float sM[WARPS][NQ], sL[WARPS][NQ];

    int kvh = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    int group = heads / kvHeads, nq = rows * group;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int sub = lane / LPK, part = lane % LPK;
    if (dynK1) k1 = *dynK1;  // a graph-replayed decode step: the cache's length after this step's append
    int keys = k1 - k0, per = (keys + splits - 1) / splits;
    int s0 = k0 + split * per, s1 = min(k1, s0 + per);
    size_t rowSize = (size_t)kvHeads * HD;
    const __nv_bfloat16* kBase = K + (size_t)kvh * HD + part * 8;
    const __nv_bfloat16* vBase = V + (size_t)kvh * HD + part * 8;

    // Query vector j is row j / group, head kvh * group + j % group; padding vectors see no key.
    float qv[NQ][8], m[NQ], l[NQ], acc[NQ][8];
    int qp[NQ];
#pragma unroll
    for (int j = 0; j < NQ; j++) {
        m[j] = -INFINITY;
        l[j] = 0.f;
        qp[j] = INT_MIN;
        const float* src = nullptr;
        if (j < nq) {
            int r = j / group, head = kvh * group + j % group;
            src = q + ((size_t)r * heads + head) * HD + part * 8;
            qp[j] = qpos[r];
        }
#pragma unroll
        for (int i = 0; i < 8; i++) {
            qv[j][i] = src ? src[i] * scale : 0.f;
            acc[j][i] = 0.f;
        }
    }

    // The loop bounds are uniform over the warp (the shuffles below need every lane); a lane group's own key
    // may fall past the split's end, and is then invisible.
    for (int base = s0 + warp * KPW; base < s1; base += STEP * U) {
        uint4 kr[U], vr[U];
        int kp[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int t = base + u * STEP + sub;
            if (t < s1) {
                kr[u] = *reinterpret_cast<const uint4*>(kBase + (size_t)t * rowSize);
                vr[u] = *reinterpret_cast<const uint4*>(vBase + (size_t)t * rowSize);
                kp[u] = kpos[t];
            } else {
                kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
                kp[u] = INT_MAX;
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            float kf[8], vf[8];
            bf16x8ToF32(kr[u], kf);
            bf16x8ToF32(vr[u], vf);
#pragma unroll
            for (int j = 0; j < NQ; j++) {
                float dot = 0.f;
#pragma unroll
                for (int i = 0; i < 8; i++) dot += qv[j][i] * kf[i];
#pragma unroll
                for (int off = LPK / 2; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffff, dot, off);
                if (kp[u] > qp[j]) continue;  // causal future, padding key or padding query vector
                float mNew = fmaxf(m[j], dot);
                float alpha = __expf(m[j] - mNew), p = __expf(dot - mNew);
                l[j] = l[j] * alpha + p;
#pragma unroll
                for (int i = 0; i < 8; i++) acc[j][i] = acc[j][i] * alpha + p * vf[i];
                m[j] = mNew;
            }
        }
    }

    // Fold the lane groups of a warp (lanes with the same part hold the same dims), then the warps.
#pragma unroll
    for (int j = 0; j < NQ; j++) {
#pragma unroll
        for (int off = LPK; off < 32; off <<= 1) {
            float m2 = __shfl_xor_sync(0xffffffff, m[j], off), l2 = __shfl_xor_sync(0xffffffff, l[j], off), a2[8];
#pragma unroll
            for (int i = 0; i < 8; i++) a2[i] = __shfl_xor_sync(0xffffffff, acc[j][i], off);
            foldState(m[j], l[j], acc[j], m2, l2, a2);
        }
        if (sub == 0) {
#pragma unroll
            for (int i = 0; i < 8; i++) sAcc[warp][j][part * 8 + i] = acc[j][i];
            if (part == 0) {
                sM[warp][j] = m[j];
                sL[warp][j] = l[j];
            }
        }
    }
    __syncthreads();
    decodeWriteSplit<NQ, HD, WARPS>(&sM[0][0], &sL[0][0], &sAcc[0][0][0], nq, group, kvh, rows, heads, split, out, lse);
}

#define FLASH_DECODE(NQ, HD)                                                                                         \
    extern "C" __global__ void __launch_bounds__(128) flash_decode_bf16_##NQ##_##HD(                                 \
            const float* q, const int* qpos, int rows, int heads, const __nv_bfloat16* K, const __nv_bfloat16* V,    \
            const int* kpos, int kvHeads, int k0, int k1, const int* dynK1, float scale, float* out, float* lse) {      \
        flashDecode<NQ, HD>(q, qpos, rows, heads, K, V, kpos, kvHeads, k0, k1, dynK1, scale, out, lse);                    \
    }
FLASH_DECODE(1, 64) FLASH_DECODE(2, 64) FLASH_DECODE(4, 64) FLASH_DECODE(8, 64)
FLASH_DECODE(1, 128) FLASH_DECODE(2, 128) FLASH_DECODE(4, 128) FLASH_DECODE(8, 128)
FLASH_DECODE(1, 256) FLASH_DECODE(2, 256) FLASH_DECODE(4, 256) FLASH_DECODE(8, 256)
