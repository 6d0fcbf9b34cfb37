// Flash-attention forward on tensor cores (FlashAttention-2's tiling): bf16 K/V cache, f32 queries
// (rounded to bf16 on load), f32 accumulation, online softmax in f32 with exp2, log-sum-exp output.
// Included by kernels.cu.
//
// Same contract as flash_attn_fwd: causal by position id (key visible iff kpos <= qpos), grouped-query
// heads, keys [k0, k1) cut into gridDim.z contiguous splits, split s writing its normalised partial to
// out + s * rows*heads*HD and lse + s * rows*heads (lse = -inf, out = 0 when no key was visible).
//
// A block of BR / 16 warps takes BR = 64 or 128 query rows of one head (16 rows per warp) and walks the keys in
// tiles of BC = 64, double-buffered in shared memory by cp.async. Per tile each warp computes
// S = Q K^T with mma.sync m16n8k16 (Q fragments stay in registers), folds S into its running max and
// sum, converts P to bf16 A-fragments directly from the accumulator registers (the C layout of m16n8
// pairs is the A layout of m16k16) and accumulates O += P V, V fragments coming from ldmatrix.trans.
// Rows are padded by 8 bf16 (16 bytes) so that the eight rows of every ldmatrix phase hit distinct banks.
// Tiles that no row of the block can see are never loaded; tiles every row sees skip the mask.

#define TC_BC 64  // keys per tile: rangeOf64 covers one tile
#define TC_PAD 8

__device__ __forceinline__ uint32_t smemAddr(const void* p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

__device__ __forceinline__ void cpAsync16(void* dst, const void* src, bool valid) {
    // src-size 0 zero-fills the 16 bytes (keys past the end must be zeros, not garbage: 0 * NaN = NaN).
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrixX4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(smemAddr(p)));
}
__device__ __forceinline__ void ldmatrixX4T(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(smemAddr(p)));
}

// d += a (16x16 bf16, row) . b (16x8 bf16, col), f32 accumulators.
__device__ __forceinline__ void mmaBf16(float* d, const uint32_t* a, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fastExp2(float x) {  // ex2.approx: 2^-inf = +0
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
}

// Smallest and largest of p[t0 .. t0 + n), computed by each warp on its own (no shared memory, no
// block barrier), so every thread gets the same answer. rangeOf64 (n <= 64, a key tile) issues its two
// loads before using either: it runs once per key tile, also for every tile scanned past in the
// causal future; a build that used the looped rangeOf there ran 15-19 % slower (two runs on fresh
// machines, so most likely but not proven the cause; BENCHMARKS.md).
__device__ __forceinline__ void warpMinMax(int& a, int& b) {
    for (int o = 16; o > 0; o >>= 1) {
        a = min(a, __shfl_xor_sync(0xffffffff, a, o));
        b = max(b, __shfl_xor_sync(0xffffffff, b, o));
    }
}
__device__ __forceinline__ void rangeOf64(const int* __restrict__ p, int t0, int n, int& lo, int& hi) {
    int lane = threadIdx.x & 31;
    int a = INT_MAX, b = INT_MIN;
    if (lane < n) { a = p[t0 + lane]; b = a; }
    if (lane + 32 < n) { int x = p[t0 + lane + 32]; a = min(a, x); b = max(b, x); }
    warpMinMax(a, b);
    lo = a;
    hi = b;
}
__device__ __forceinline__ void rangeOf(const int* __restrict__ p, int t0, int n, int& lo, int& hi) {
    int a = INT_MAX, b = INT_MIN;
    for (int i = threadIdx.x & 31; i < n; i += 32) {
        int x = p[t0 + i];
        a = min(a, x);
        b = max(b, x);
    }
    warpMinMax(a, b);
    lo = a;
    hi = b;
}

// The end of a tensor-core attention block (flash_attn_tc and flash_attn_wg, whose accumulator fragments lay out
// alike): the quad's partial sums added, then the thread's two rows (rowA, rowB = rowA + 8) written: columns
// nt * 8 + 2 * t4 and the next of o (o[4 * nt + 0..1] row A, [4 * nt + 2..3] row B) normalised, and the LSE
// (m kept in log2 units) in natural log.
template <int HD>
__device__ __forceinline__ void tcWriteRows(const float* o, float lA, float lB, float mA, float mB, int rowA, int rowB, int t4,
                                            int rows, int heads, int head, int split, float* __restrict__ out,
                                            float* __restrict__ lse) {
    lA += __shfl_xor_sync(0xffffffff, lA, 1);
    lA += __shfl_xor_sync(0xffffffff, lA, 2);
    lB += __shfl_xor_sync(0xffffffff, lB, 1);
    lB += __shfl_xor_sync(0xffffffff, lB, 2);
    const size_t plane = (size_t)rows * heads;
    const float LN2 = 0.6931471805599453f;
    float* ob = out + (size_t)split * plane * HD;
    if (rowA < rows) {
        float inv = lA > 0.f ? 1.f / lA : 0.f;
        float* orow = ob + ((size_t)rowA * heads + head) * HD;
#pragma unroll
        for (int nt = 0; nt < HD / 8; nt++)
            *reinterpret_cast<float2*>(orow + nt * 8 + 2 * t4) = make_float2(o[4 * nt] * inv, o[4 * nt + 1] * inv);
        if (t4 == 0) lse[(size_t)split * plane + (size_t)rowA * heads + head] = lA > 0.f ? mA * LN2 + logf(lA) : -INFINITY;
    }
    if (rowB < rows) {
        float inv = lB > 0.f ? 1.f / lB : 0.f;
        float* orow = ob + ((size_t)rowB * heads + head) * HD;
#pragma unroll
        for (int nt = 0; nt < HD / 8; nt++)
            *reinterpret_cast<float2*>(orow + nt * 8 + 2 * t4) = make_float2(o[4 * nt + 2] * inv, o[4 * nt + 3] * inv);
        if (t4 == 0) lse[(size_t)split * plane + (size_t)rowB * heads + head] = lB > 0.f ? mB * LN2 + logf(lB) : -INFINITY;
    }
}

template <int HD, int BR>
__device__ void flashAttnTc(const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,
                            const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V,
                            const int* __restrict__ kpos, int kvHeads, int k0, int k1, float scale,
                            float* __restrict__ out, float* __restrict__ lse) {
    constexpr int LD = HD + TC_PAD;  // smem row stride in bf16
    extern __shared__ __align__(16) unsigned char tcSmem[];
    __nv_bfloat16* Qs = reinterpret_cast<__nv_bfloat16*>(tcSmem);   // BR x LD
    __nv_bfloat16* Ks = Qs + BR * LD;                             // 2 x BC x LD
    __nv_bfloat16* Vs = Ks + 2 * TC_BC * LD;                         // 2 x BC x LD
    int* Kp = reinterpret_cast<int*>(Vs + 2 * TC_BC * LD);           // 2 x BC positions

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t4 = lane & 3;
    // Heavy blocks (late rows see the most keys under a causal mask) start first.
    const int r0 = (gridDim.x - 1 - blockIdx.x) * BR;
    const int head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int kvh = head / (heads / kvHeads);
    const int keys = k1 - k0, per = (keys + splits - 1) / splits;
    const int s0 = k0 + split * per, s1 = min(k1, s0 + per);
    const size_t rowSize = (size_t)kvHeads * HD;
    const float sl2 = scale * 1.4426950408889634f;  // scores in log2 units: exp(x) = exp2(x * log2 e)

    // Q tile to shared memory as bf16 (rows past the end are zeros). Not pre-scaled: rounding q * scale
    // to bf16 would add a rounding of its own (the self-check saw the LSE error grow from 2e-7 to 8e-4).
    for (int i = tid; i < BR * HD / 4; i += blockDim.x) {
        int r = i / (HD / 4), c = (i % (HD / 4)) * 4;
        float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r0 + r < rows) x = *reinterpret_cast<const float4*>(q + ((size_t)(r0 + r) * heads + head) * HD + c);
        uint2 pk = make_uint2(packBf16(x.x, x.y), packBf16(x.z, x.w));
        *reinterpret_cast<uint2*>(Qs + r * LD + c) = pk;
    }
    // This thread's two rows (g and g + 8 of its warp's 16) and the block's position range.
    const int rowA = r0 + warp * 16 + g, rowB = rowA + 8;
    const int posA = rowA < rows ? qpos[rowA] : INT_MIN, posB = rowB < rows ? qpos[rowB] : INT_MIN;
    int qlo, qhi;
    {
        int n = min(BR, rows - r0);
        rangeOf(qpos, r0, n, qlo, qhi);
        if (n < BR) qlo = INT_MIN;  // padded rows see nothing: always mask
    }

    __syncthreads();  // the Q tile is in shared memory
    uint32_t qf[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        int m = lane >> 3;
        const __nv_bfloat16* p = Qs + (warp * 16 + (m & 1) * 8 + (lane & 7)) * LD + kk * 16 + (m >> 1) * 8;
        ldmatrixX4(qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3], p);
    }

    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.f, lB = 0.f;

    // The first tile at or after t0 that some row of the block can see (s1 when none), with the
    // smallest and largest key position in it.
    auto nextTile = [&](int t0, int& lo, int& hi) -> int {
        for (; t0 < s1; t0 += TC_BC) {
            rangeOf64(kpos, t0, min(TC_BC, s1 - t0), lo, hi);
            if (lo <= qhi) break;
        }
        return t0;
    };
    auto issue = [&](int t0, int buf) {
        int n = min(TC_BC, s1 - t0);
        __nv_bfloat16* kd = Ks + buf * TC_BC * LD;
        __nv_bfloat16* vd = Vs + buf * TC_BC * LD;
        constexpr int CH = HD / 8;  // 16-byte chunks per row
        for (int i = tid; i < TC_BC * CH; i += blockDim.x) {
            int r = i / CH, c = (i % CH) * 8;
            bool ok = r < n;
            size_t gi = (size_t)(t0 + (ok ? r : 0)) * rowSize + (size_t)kvh * HD + c;
            cpAsync16(kd + r * LD + c, K + gi, ok);
            cpAsync16(vd + r * LD + c, V + gi, ok);
        }
        for (int i = tid; i < TC_BC; i += blockDim.x) Kp[buf * TC_BC + i] = i < n ? kpos[t0 + i] : INT_MAX;
        cpAsyncCommit();
    };
    int curLo, curHi, nxtLo = 0, nxtHi = 0, buf = 0;
    int cur = nextTile(s0, curLo, curHi);
    if (cur < s1) issue(cur, 0);
    while (cur < s1) {
        int nxt = nextTile(cur + TC_BC, nxtLo, nxtHi);
        const int n = min(TC_BC, s1 - cur);
        const bool full = n == TC_BC && curHi <= qlo;  // every row sees every key: no mask
        if (nxt < s1) {
            issue(nxt, buf ^ 1);
            cpAsyncWait<1>();
        } else {
            cpAsyncWait<0>();
        }
        __syncthreads();
        const __nv_bfloat16* kb = Ks + buf * TC_BC * LD;
        const __nv_bfloat16* vb = Vs + buf * TC_BC * LD;
        const int* kp = Kp + buf * TC_BC;

        float s[TC_BC / 8][4];
#pragma unroll
        for (int i = 0; i < TC_BC / 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
#pragma unroll
            for (int np = 0; np < TC_BC / 16; np++) {
                int m = lane >> 3;
                const __nv_bfloat16* p = kb + (np * 16 + (m >> 1) * 8 + (lane & 7)) * LD + kk * 16 + (m & 1) * 8;
                uint32_t b0, b1, b2, b3;
                ldmatrixX4(b0, b1, b2, b3, p);
                mmaBf16(s[2 * np], qf[kk], b0, b1);
                mmaBf16(s[2 * np + 1], qf[kk], b2, b3);
            }
        }
        // Scale (to log2 units) and mask.
        float mxA = -INFINITY, mxB = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < TC_BC / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int col = nt * 8 + 2 * t4 + e;
                float a = s[nt][e] * sl2, b = s[nt][2 + e] * sl2;
                if (!full) {
                    int p = kp[col];
                    if (p > posA) a = -INFINITY;
                    if (p > posB) b = -INFINITY;
                }
                s[nt][e] = a;
                s[nt][2 + e] = b;
                mxA = fmaxf(mxA, a);
                mxB = fmaxf(mxB, b);
            }
        }
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffff, mxA, 1));
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffff, mxA, 2));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffff, mxB, 1));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffff, mxB, 2));
        float nA = fmaxf(mA, mxA), nB = fmaxf(mB, mxB);
        // A row that has seen no key yet keeps max -inf; subtract 0 then so that exp2 gives 0, not NaN.
        float uA = nA == -INFINITY ? 0.f : nA, uB = nB == -INFINITY ? 0.f : nB;
        float aA = fastExp2(mA - uA), aB = fastExp2(mB - uB);
        mA = nA;
        mB = nB;
        float sumA = 0.f, sumB = 0.f;
#pragma unroll
        for (int nt = 0; nt < TC_BC / 8; nt++) {
            s[nt][0] = fastExp2(s[nt][0] - uA);
            s[nt][1] = fastExp2(s[nt][1] - uA);
            s[nt][2] = fastExp2(s[nt][2] - uB);
            s[nt][3] = fastExp2(s[nt][3] - uB);
            sumA += s[nt][0] + s[nt][1];
            sumB += s[nt][2] + s[nt][3];
        }
        lA = lA * aA + sumA;  // per-thread partial sums; the quad's are added at the end
        lB = lB * aB + sumB;
#pragma unroll
        for (int i = 0; i < HD / 8; i++) {
            o[i][0] *= aA;
            o[i][1] *= aA;
            o[i][2] *= aB;
            o[i][3] *= aB;
        }
        // O += P V, P's A-fragments straight from the S accumulators.
#pragma unroll
        for (int j = 0; j < TC_BC / 16; j++) {
            uint32_t pa[4] = {packBf16(s[2 * j][0], s[2 * j][1]), packBf16(s[2 * j][2], s[2 * j][3]),
                              packBf16(s[2 * j + 1][0], s[2 * j + 1][1]), packBf16(s[2 * j + 1][2], s[2 * j + 1][3])};
#pragma unroll
            for (int dp = 0; dp < HD / 16; dp++) {
                int m = lane >> 3;
                const __nv_bfloat16* p = vb + (j * 16 + (m & 1) * 8 + (lane & 7)) * LD + dp * 16 + (m >> 1) * 8;
                uint32_t b0, b1, b2, b3;
                ldmatrixX4T(b0, b1, b2, b3, p);
                mmaBf16(o[2 * dp], pa, b0, b1);
                mmaBf16(o[2 * dp + 1], pa, b2, b3);
            }
        }
        __syncthreads();  // every warp is done with this buffer before it is refilled
        cur = nxt;
        curLo = nxtLo;
        curHi = nxtHi;
        buf ^= 1;
    }

    tcWriteRows<HD>(&o[0][0], lA, lB, mA, mB, rowA, rowB, t4, rows, heads, head, split, out, lse);
}

// Entry points: flash_attn_tc_<HD> (64 query rows, 4 warps, two blocks per SM) and
// flash_attn_tc_<HD>_r128 (128 rows, 8 warps, one block per SM: each K/V tile serves twice the rows).
#define TC_ENTRY(NAME, HD, BR, MINB)                                                                                   \
    extern "C" __global__ void __launch_bounds__(2 * BR, MINB) NAME(                                                   \
            const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,                            \
            const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V, const int* __restrict__ kpos,    \
            int kvHeads, int k0, int k1, float scale, float* __restrict__ out, float* __restrict__ lse) {              \
        flashAttnTc<HD, BR>(q, qpos, rows, heads, K, V, kpos, kvHeads, k0, k1, scale, out, lse);                       \
    }
TC_ENTRY(flash_attn_tc_64, 64, 64, 2)
TC_ENTRY(flash_attn_tc_128, 128, 64, 2)
TC_ENTRY(flash_attn_tc_64_r128, 64, 128, 1)
TC_ENTRY(flash_attn_tc_128_r128, 128, 128, 1)
