// Decode attention over a bf16 cache, tiled: the same contract, grid and outputs as flash_decode_bf16
// (flash_decode.cuh), a different order of work.
//
// Why: flash_decode_bf16 spreads a key over 8-32 lanes, so every key costs a shuffle reduction of its dot
// product and an online-softmax update (two exponentials, a rescale of the accumulator) per query vector; on
// an H200 that dependent chain, not the memory, held it to 1.1-1.6 TB/s of K and V. Here a warp takes 32 keys at
// a time (a tile), one key per lane: the lane computes its key's whole dot products (K staged in shared memory
// by cp.async, rows padded so that the lanes' 16-byte reads hit distinct banks; q in shared memory, read as
// broadcasts), the tile's maximum takes one warp reduction per query vector, each lane one exponential per
// vector, and the accumulator is rescaled once per tile. For P.V the lanes switch to owning HD/32 dims each:
// V rows are read straight from global memory, one coalesced row of the tile per load, and the tile's
// probabilities come from shared memory as broadcasts; the tile's V loads are issued before its dot products. Each lane keeps its share of the softmax sum; the warps'
// states are folded by log-sum-exp at the end, as in flash_decode_bf16.
//
// Head dims 64 and 128 (256 would not leave room for the staged tiles: flash_decode_bf16 takes it).
// Dynamic shared memory: decodeTiledSmem(NQ, HD) bytes (below 48 KiB for every instance).

template <int NQ, int HD>
struct DecodeTiledLayout {
    static constexpr int WARPS = 4;
    static constexpr int TK = 32;                  // keys a warp takes at a time: one a lane
    static constexpr int ROW = HD + 8;             // shared K row in bf16: 16 bytes of padding
    static constexpr int Q_BYTES = NQ * HD * 4;
    static constexpr int K_BYTES = WARPS * TK * ROW * 2;
    static constexpr int P_BYTES = WARPS * TK * NQ * 4;
    static constexpr int FOLD_BYTES = WARPS * NQ * HD * 4;   // reuses the K tiles after the loop
    static constexpr int BYTES = Q_BYTES + K_BYTES + P_BYTES + 2 * WARPS * NQ * 4;
    static_assert(FOLD_BYTES <= K_BYTES, "the fold reuses the K tiles");
    static_assert(BYTES <= 48 * 1024, "no opt-in for more than 48 KiB of dynamic shared memory");
};

// A lane's DPL bf16 values of a V row (DPL = 2 or 4), raw: loaded early, widened to f32 when used.
template <int DPL> struct VRaw;
template <> struct VRaw<4> {
    uint2 u;
    __device__ __forceinline__ void load(const __nv_bfloat16* p) { u = *reinterpret_cast<const uint2*>(p); }
    __device__ __forceinline__ void zero() { u = make_uint2(0, 0); }
    __device__ __forceinline__ void widen(float f[4]) const {
        f[0] = __uint_as_float(u.x << 16);
        f[1] = __uint_as_float(u.x & 0xffff0000u);
        f[2] = __uint_as_float(u.y << 16);
        f[3] = __uint_as_float(u.y & 0xffff0000u);
    }
};
template <> struct VRaw<2> {
    unsigned u;
    __device__ __forceinline__ void load(const __nv_bfloat16* p) { u = *reinterpret_cast<const unsigned*>(p); }
    __device__ __forceinline__ void zero() { u = 0; }
    __device__ __forceinline__ void widen(float f[2]) const {
        f[0] = __uint_as_float(u << 16);
        f[1] = __uint_as_float(u & 0xffff0000u);
    }
};

template <int NQ, int HD>
__device__ void flashDecodeTiled(const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,
                                 const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V,
                                 const int* __restrict__ kpos, int kvHeads, int k0, int k1, const int* __restrict__ dynK1, float scale,
                                 float* __restrict__ out, float* __restrict__ lse) {
    using L = DecodeTiledLayout<NQ, HD>;
    constexpr int WARPS = L::WARPS, TK = L::TK, ROW = L::ROW;
    constexpr int CH = HD / 8;     // 16-byte chunks of a K row
    constexpr int DPL = HD / 32;   // dims a lane owns in P.V
    extern __shared__ __align__(16) unsigned char dtSmem[];
    float* sQ = reinterpret_cast<float*>(dtSmem);                                      // [NQ][HD], scaled
    __nv_bfloat16* sK = reinterpret_cast<__nv_bfloat16*>(dtSmem + L::Q_BYTES);           // [WARPS][TK][ROW]
    float* sP = reinterpret_cast<float*>(dtSmem + L::Q_BYTES + L::K_BYTES);              // [WARPS][TK][NQ]
    float* sM = reinterpret_cast<float*>(dtSmem + L::Q_BYTES + L::K_BYTES + L::P_BYTES); // [WARPS][NQ]
    float* sL = sM + WARPS * NQ;                                                       // [WARPS][NQ]

    int kvh = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    int group = heads / kvHeads, nq = rows * group;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (dynK1) k1 = *dynK1;  // a graph-replayed decode step: the cache's length after this step's append
    int keys = k1 - k0, per = (keys + splits - 1) / splits;
    int s0 = k0 + split * per, s1 = min(k1, s0 + per);
    size_t rowSize = (size_t)kvHeads * HD;

    // Query vector j is row j / group, head kvh * group + j % group; padding vectors (j >= nq) see no key.
    for (int e = threadIdx.x; e < NQ * HD; e += blockDim.x) {
        int j = e / HD, d = e % HD;
        float v = 0.f;
        if (j < nq) v = q[((size_t)(j / group) * heads + kvh * group + j % group) * HD + d] * scale;
        sQ[e] = v;
    }
    int qp[NQ];
#pragma unroll
    for (int j = 0; j < NQ; j++) qp[j] = j < nq ? qpos[j / group] : INT_MIN;
    __syncthreads();

    float m[NQ], l[NQ], acc[NQ][DPL];  // m: the warp's running max; l: this lane's share of the sum
#pragma unroll
    for (int j = 0; j < NQ; j++) {
        m[j] = -INFINITY;
        l[j] = 0.f;
#pragma unroll
        for (int d = 0; d < DPL; d++) acc[j][d] = 0.f;
    }
    __nv_bfloat16* myK = sK + warp * TK * ROW;
    float* myP = sP + warp * TK * NQ;
    const __nv_bfloat16* kBase = K + (size_t)kvh * HD;
    const __nv_bfloat16* vBase = V + (size_t)kvh * HD + lane * DPL;

    for (int t0 = s0 + warp * TK; t0 < s1; t0 += WARPS * TK) {
        // 1. The tile's K rows into shared memory: consecutive lanes copy consecutive 16 bytes of a row.
#pragma unroll
        for (int i = 0; i < CH; i++) {
            int c = i * 32 + lane, r = c / CH, part = c % CH;
            bool valid = t0 + r < s1;
            cpAsync16(myK + r * ROW + part * 8, kBase + (size_t)(valid ? t0 + r : s0) * rowSize + part * 8, valid);
        }
        cpAsyncCommit();
        int t = t0 + lane;
        int kp = t < s1 ? kpos[t] : INT_MAX;
        // The tile's V (this lane's dims of every row) is loaded now, to be in flight during the dot products.
        VRaw<DPL> v[TK];
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            if (t0 + kk < s1) v[kk].load(vBase + (size_t)(t0 + kk) * rowSize);
            else v[kk].zero();
        }
        cpAsyncWait<0>();
        __syncwarp();

        // 2. This lane's key: its dot products with every query vector.
        float s[NQ];
#pragma unroll
        for (int j = 0; j < NQ; j++) s[j] = 0.f;
        const __nv_bfloat16* kr = myK + lane * ROW;
#pragma unroll 4
        for (int c = 0; c < CH; c++) {
            float kf[8];
            bf16x8ToF32(*reinterpret_cast<const uint4*>(kr + c * 8), kf);
#pragma unroll
            for (int j = 0; j < NQ; j++) {
                float4 qa = *reinterpret_cast<const float4*>(sQ + j * HD + c * 8);
                float4 qb = *reinterpret_cast<const float4*>(sQ + j * HD + c * 8 + 4);
                s[j] += qa.x * kf[0] + qa.y * kf[1] + qa.z * kf[2] + qa.w * kf[3]
                      + qb.x * kf[4] + qb.y * kf[5] + qb.z * kf[6] + qb.w * kf[7];
            }
        }

        // 3. Softmax over the tile: one maximum per vector, one exponential per lane and vector, one rescale.
        float alpha[NQ];
#pragma unroll
        for (int j = 0; j < NQ; j++) {
            bool visible = kp <= qp[j];  // causal by position; also false past the split and for padding vectors
            float sj = visible ? s[j] : -INFINITY;
            float mNew = fmaxf(m[j], warpMax(sj));
            float p = 0.f;
            alpha[j] = 1.f;
            if (mNew != -INFINITY) {
                alpha[j] = __expf(m[j] - mNew);  // m = -inf: 0, the accumulator is empty anyway
                p = visible ? __expf(sj - mNew) : 0.f;
                m[j] = mNew;
            }
            l[j] = l[j] * alpha[j] + p;
            myP[lane * NQ + j] = p;
        }
#pragma unroll
        for (int j = 0; j < NQ; j++)
#pragma unroll
            for (int d = 0; d < DPL; d++) acc[j][d] *= alpha[j];
        __syncwarp();

        // 4. P.V: this lane's dims over the tile's keys (rows past the split: p = 0 and zeros).
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float vf[DPL];
            v[kk].widen(vf);
#pragma unroll
            for (int j = 0; j < NQ; j++) {
                float p = myP[kk * NQ + j];
#pragma unroll
                for (int d = 0; d < DPL; d++) acc[j][d] += p * vf[d];
            }
        }
        __syncwarp();  // the next tile overwrites this warp's K and P
    }

    // Fold: the lanes' sums, then the warps by log-sum-exp (the K tiles reused for the accumulators).
    __syncthreads();
    float* sAcc = reinterpret_cast<float*>(sK);  // [WARPS][NQ][HD]
#pragma unroll
    for (int j = 0; j < NQ; j++) {
        float lw = warpSum(l[j]);
#pragma unroll
        for (int d = 0; d < DPL; d++) sAcc[(warp * NQ + j) * HD + lane * DPL + d] = acc[j][d];
        if (lane == 0) {
            sM[warp * NQ + j] = m[j];
            sL[warp * NQ + j] = lw;
        }
    }
    __syncthreads();
    decodeWriteSplit<NQ, HD, WARPS>(sM, sL, sAcc, nq, group, kvh, rows, heads, split, out, lse);
}

#define FLASH_DECODE_TILED(NQ, HD)                                                                                   \
    extern "C" __global__ void __launch_bounds__(128) flash_decode_tiled_bf16_##NQ##_##HD(                           \
            const float* q, const int* qpos, int rows, int heads, const __nv_bfloat16* K, const __nv_bfloat16* V,    \
            const int* kpos, int kvHeads, int k0, int k1, const int* dynK1, float scale, float* out, float* lse) {      \
        flashDecodeTiled<NQ, HD>(q, qpos, rows, heads, K, V, kpos, kvHeads, k0, k1, dynK1, scale, out, lse);               \
    }
FLASH_DECODE_TILED(1, 64) FLASH_DECODE_TILED(2, 64) FLASH_DECODE_TILED(4, 64) FLASH_DECODE_TILED(8, 64)
FLASH_DECODE_TILED(1, 128) FLASH_DECODE_TILED(2, 128) FLASH_DECODE_TILED(4, 128) FLASH_DECODE_TILED(8, 128)
