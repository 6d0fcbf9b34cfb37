// Flash-attention forward on Hopper's warpgroup MMA (wgmma), head dim 128: the same contract as
// flash_attn_tc (f32 queries rounded to bf16, bf16 K/V cache, causal by position id, grouped-query
// heads, key splits over gridDim.z, normalised output and log-sum-exp per row). Included by kernels.cu.
//
// Why a second kernel: mma.sync feeds every 16x8x16 product from registers, so each warp reloads its
// K and V fragments from shared memory with ldmatrix and shared-memory bandwidth caps the tensor cores
// at about a third of the H200's bf16 rate (flash_attn_tc: 168-191 TFLOP/s). wgmma reads both operands
// of S = Q K^T and the B operand of O += P V straight from shared memory through matrix descriptors, for
// a whole warpgroup (4 warps, 64 rows) at once.
//
// A block is two warpgroups (256 threads) and 128 query rows; keys come in tiles of 64, double-buffered
// by cp.async as in flash_attn_tc. Shared tiles use the 128-byte swizzle that the descriptors declare:
// a row of 64 bf16 is 128 bytes, its 16-byte chunk c is stored at chunk c ^ (row % 8), and head dim 128
// is two such column blocks stored one after the other ([2][rows][64]); every tile starts on 1024 bytes.
// The accumulator layout of m64nNk16 is, per warp, that of mma.sync's m16n8 for each group of 8 columns,
// so the masking, online softmax and the P fragments are flash_attn_tc's.
//
// Built only for sm_90a (wgmma does not exist elsewhere); on other targets the entry compiles to a trap
// and CudaAttention never selects it (compute capability 9.0 only).

#define WG_BC 64       // keys per tile
#define WG_ROWS 128    // query rows per block (two warpgroups of 64)
#define WG_HD 128

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// Byte offset of 16-byte chunk c (0..15 over head dim 128) of row r in a swizzled [2][rows][64] tile.
__device__ __forceinline__ int wgSwz(int r, int c, int rows) {
    return (c >> 3) * rows * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4);
}

// A shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address, leading and
// stride byte offsets (all in 16-byte units), 128-byte swizzle.
__device__ __forceinline__ uint64_t wgDesc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) |
           ((uint64_t)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

__device__ __forceinline__ void wgFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgWait0() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Makes this thread's generic-proxy shared-memory writes (st.shared, cp.async) visible to wgmma's async proxy.
__device__ __forceinline__ void proxyFence() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// d (64 x 64, f32) = or += A (64 x 16, descriptor) . B (16 x 64, descriptor, K-major).
__device__ __forceinline__ void wgmmaS(float* d, uint64_t a, uint64_t b, int accumulate) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
        "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "l"(a), "l"(b), "r"(accumulate));
}

// d (64 x 128, f32) += A (64 x 16, bf16 registers) . B (16 x 128, descriptor, MN-major: transposed).
__device__ __forceinline__ void wgmmaO(float* d, const uint32_t* a, uint64_t b) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
        "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
        "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
        "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, "
        "{%64,%65,%66,%67}, %68, p, 1, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
}

__device__ void flashAttnWg(const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,
                            const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V,
                            const int* __restrict__ kpos, int kvHeads, int k0, int k1, float scale,
                            float* __restrict__ out, float* __restrict__ lse) {
    constexpr int HD = WG_HD, BR = WG_ROWS, BC = WG_BC;
    constexpr int Q_BYTES = BR * HD * 2, T_BYTES = BC * HD * 2;  // 32 KB, 16 KB
    extern __shared__ unsigned char wgSmemRaw[];
    // Swizzled tiles must start on 1024 bytes; the launch asks for 1 KB of slack.
    unsigned char* sm = wgSmemRaw + ((1024 - (smemAddr(wgSmemRaw) & 1023)) & 1023);
    unsigned char* Qs = sm;                         // [2][BR][64] bf16
    unsigned char* Ks = Qs + Q_BYTES;               // 2 buffers of [2][BC][64]
    unsigned char* Vs = Ks + 2 * T_BYTES;           // 2 buffers
    int* Kp = reinterpret_cast<int*>(Vs + 2 * T_BYTES);  // 2 x BC key positions

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wg = warp >> 2, wq = warp & 3;  // warpgroup, warp within it
    const int g = lane >> 2, t4 = lane & 3;
    const int r0 = (gridDim.x - 1 - blockIdx.x) * BR;  // heavy (late) blocks first
    const int head = blockIdx.y, split = blockIdx.z, splits = gridDim.z;
    const int kvh = head / (heads / kvHeads);
    const int keys = k1 - k0, per = (keys + splits - 1) / splits;
    const int s0 = k0 + split * per, s1 = min(k1, s0 + per);
    const size_t rowSize = (size_t)kvHeads * HD;
    const float sl2 = scale * 1.4426950408889634f;

    // Q tile: f32 -> bf16, 8 values (one 16-byte chunk) at a time, swizzled; rows past the end are zeros.
    for (int i = tid; i < BR * HD / 8; i += blockDim.x) {
        int r = i >> 4, c = i & 15;
        float4 x0 = make_float4(0.f, 0.f, 0.f, 0.f), x1 = x0;
        if (r0 + r < rows) {
            const float* src = q + ((size_t)(r0 + r) * heads + head) * HD + c * 8;
            x0 = *reinterpret_cast<const float4*>(src);
            x1 = *reinterpret_cast<const float4*>(src + 4);
        }
        uint4 pk = make_uint4(packBf16(x0.x, x0.y), packBf16(x0.z, x0.w), packBf16(x1.x, x1.y), packBf16(x1.z, x1.w));
        *reinterpret_cast<uint4*>(Qs + wgSwz(r, c, BR)) = pk;
    }
    const int rowA = r0 + wg * 64 + wq * 16 + g, rowB = rowA + 8;
    const int posA = rowA < rows ? qpos[rowA] : INT_MIN, posB = rowB < rows ? qpos[rowB] : INT_MIN;
    int qlo, qhi;
    {
        int n = min(BR, rows - r0);
        rangeOf(qpos, r0, n, qlo, qhi);
        if (n < BR) qlo = INT_MIN;
    }

    float o[64];
#pragma unroll
    for (int i = 0; i < 64; i++) o[i] = 0.f;
    float s[32];
#pragma unroll
    for (int i = 0; i < 32; i++) s[i] = 0.f;
    float mA = -INFINITY, mB = -INFINITY, lA = 0.f, lB = 0.f;

    auto nextTile = [&](int t0, int& lo, int& hi) -> int {
        for (; t0 < s1; t0 += BC) {
            rangeOf64(kpos, t0, min(BC, s1 - t0), lo, hi);
            if (lo <= qhi) break;
        }
        return t0;
    };
    auto issue = [&](int t0, int buf) {
        int n = min(BC, s1 - t0);
        unsigned char* kd = Ks + buf * T_BYTES;
        unsigned char* vd = Vs + buf * T_BYTES;
        for (int i = tid; i < BC * 16; i += blockDim.x) {
            int r = i >> 4, c = i & 15;
            bool ok = r < n;
            size_t gi = (size_t)(t0 + (ok ? r : 0)) * rowSize + (size_t)kvh * HD + c * 8;
            int off = wgSwz(r, c, BC);
            cpAsync16(kd + off, K + gi, ok);
            cpAsync16(vd + off, V + gi, ok);
        }
        for (int i = tid; i < BC; i += blockDim.x) Kp[buf * BC + i] = i < n ? kpos[t0 + i] : INT_MAX;
        cpAsyncCommit();
    };

    const uint32_t qAddr = smemAddr(Qs) + wg * 64 * 128;  // this warpgroup's 64 rows in each column block
    int curLo, curHi, nxtLo = 0, nxtHi = 0, buf = 0;
    int cur = nextTile(s0, curLo, curHi);
    if (cur < s1) issue(cur, 0);
    while (cur < s1) {
        int nxt = nextTile(cur + BC, nxtLo, nxtHi);
        const int n = min(BC, s1 - cur);
        const bool full = n == BC && curHi <= qlo;
        if (nxt < s1) {
            issue(nxt, buf ^ 1);
            cpAsyncWait<1>();
        } else {
            cpAsyncWait<0>();
        }
        proxyFence();
        __syncthreads();
        const uint32_t kAddr = smemAddr(Ks + buf * T_BYTES), vAddr = smemAddr(Vs + buf * T_BYTES);
        const int* kp = Kp + buf * BC;

        // S = Q K^T over head dim 128: 8 steps of k16; steps 0-3 in column block 0, 4-7 in block 1,
        // each 32 bytes further into the swizzled 128-byte rows.
        wgFence();
#pragma unroll
        for (int kk = 0; kk < HD / 16; kk++) {
            uint32_t colA = (kk >> 2) * BR * 128 + (kk & 3) * 32, colB = (kk >> 2) * BC * 128 + (kk & 3) * 32;
            wgmmaS(s, wgDesc(qAddr + colA, 16, 1024), wgDesc(kAddr + colB, 16, 1024), kk > 0);
        }
        wgCommit();
        wgWait0();

        float mxA = -INFINITY, mxB = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < BC / 8; nt++) {
#pragma unroll
            for (int e = 0; e < 2; e++) {
                int col = nt * 8 + 2 * t4 + e;
                float a = s[4 * nt + e] * sl2, b = s[4 * nt + 2 + e] * sl2;
                if (!full) {
                    int p = kp[col];
                    if (p > posA) a = -INFINITY;
                    if (p > posB) b = -INFINITY;
                }
                s[4 * nt + e] = a;
                s[4 * nt + 2 + e] = b;
                mxA = fmaxf(mxA, a);
                mxB = fmaxf(mxB, b);
            }
        }
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffff, mxA, 1));
        mxA = fmaxf(mxA, __shfl_xor_sync(0xffffffff, mxA, 2));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffff, mxB, 1));
        mxB = fmaxf(mxB, __shfl_xor_sync(0xffffffff, mxB, 2));
        float nA = fmaxf(mA, mxA), nB = fmaxf(mB, mxB);
        float uA = nA == -INFINITY ? 0.f : nA, uB = nB == -INFINITY ? 0.f : nB;
        float aA = fastExp2(mA - uA), aB = fastExp2(mB - uB);
        mA = nA;
        mB = nB;
        float sumA = 0.f, sumB = 0.f;
#pragma unroll
        for (int nt = 0; nt < BC / 8; nt++) {
            s[4 * nt + 0] = fastExp2(s[4 * nt + 0] - uA);
            s[4 * nt + 1] = fastExp2(s[4 * nt + 1] - uA);
            s[4 * nt + 2] = fastExp2(s[4 * nt + 2] - uB);
            s[4 * nt + 3] = fastExp2(s[4 * nt + 3] - uB);
            sumA += s[4 * nt + 0] + s[4 * nt + 1];
            sumB += s[4 * nt + 2] + s[4 * nt + 3];
        }
        lA = lA * aA + sumA;
        lB = lB * aB + sumB;
#pragma unroll
        for (int i = 0; i < HD / 8; i++) {
            o[4 * i + 0] *= aA;
            o[4 * i + 1] *= aA;
            o[4 * i + 2] *= aB;
            o[4 * i + 3] *= aB;
        }
        // O += P V: P's A fragments from the S registers; V's tile is [2][BC][64] with head dim
        // contiguous, i.e. MN-major for B (transposed): 8-key groups 1024 bytes apart (stride), the two
        // 64-wide column blocks BC * 128 bytes apart (leading); 16 keys (2048 bytes) per step.
        uint32_t pa[BC / 16][4];
#pragma unroll
        for (int j = 0; j < BC / 16; j++) {
            pa[j][0] = packBf16(s[8 * j + 0], s[8 * j + 1]);
            pa[j][1] = packBf16(s[8 * j + 2], s[8 * j + 3]);
            pa[j][2] = packBf16(s[8 * j + 4], s[8 * j + 5]);
            pa[j][3] = packBf16(s[8 * j + 6], s[8 * j + 7]);
        }
        wgFence();
#pragma unroll
        for (int j = 0; j < BC / 16; j++) wgmmaO(o, pa[j], wgDesc(vAddr + j * 2048, BC * 128, 1024));
        wgCommit();
        wgWait0();
        __syncthreads();  // both warpgroups are done with this buffer before it is refilled
        cur = nxt;
        curLo = nxtLo;
        curHi = nxtHi;
        buf ^= 1;
    }

    tcWriteRows<HD>(o, lA, lB, mA, mB, rowA, rowB, t4, rows, heads, head, split, out, lse);
}
#endif

// flash_attn_wg_128: one block per SM (registers: S 32 + O 64 accumulators per thread);
// flash_attn_wg_128_x2: two blocks per SM (at most 128 registers a thread), to be compared.
#define WG_ENTRY(NAME, MINB)                                                                                          \
    extern "C" __global__ void __launch_bounds__(2 * WG_ROWS, MINB) NAME(                                              \
            const float* __restrict__ q, const int* __restrict__ qpos, int rows, int heads,                            \
            const __nv_bfloat16* __restrict__ K, const __nv_bfloat16* __restrict__ V, const int* __restrict__ kpos,    \
            int kvHeads, int k0, int k1, float scale, float* __restrict__ out, float* __restrict__ lse) {              \
        WG_BODY(q, qpos, rows, heads, K, V, kpos, kvHeads, k0, k1, scale, out, lse);                                   \
    }
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_BODY flashAttnWg
#else
#define WG_BODY(...) __trap()
#endif
WG_ENTRY(flash_attn_wg_128, 1)
WG_ENTRY(flash_attn_wg_128_x2, 2)
