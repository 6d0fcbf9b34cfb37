package dev.starattn.cuda;

import dev.starattn.attention.Partial;
import dev.starattn.config.Switches;
import java.util.List;

/**
 * The attention kernels from Java: flash-attention forward with log-sum-exp over a {@link DeviceKv}
 * (causal by position id, grouped-query heads), split over the keys when few query rows face many
 * keys (decode, star phase 2) and the splits merged by log-sum-exp on the GPU; and the LSE merge of
 * partials from several hosts.
 *
 * <p>Prefill and phase 1 (at least {@link #TC_MIN_ROWS} query rows over a bf16 cache, head dim 64 or
 * 128) run on tensor cores, with one of the {@link TcKernel}s; or, with {@link TcKernel#CUDNN} and through
 * {@link #attendPrefill} (queries = the cache's last rows, positions ascending), cuDNN's fused flash
 * attention ({@link CudnnSdpa}); whatever cuDNN refuses or lacks runs our own kernel (one line on stderr
 * says so), never a different answer. Decode over a bf16 cache (up to 8 query vectors per kv head, head dim
 * 64, 128 or 256) runs a decode kernel: one block per kv head and key split, every K/V row read once for all
 * the query heads that share it, since the memory traffic, not the arithmetic, should set decode's time;
 * {@code flash_decode_tiled_bf16} (32 keys a warp step, a key a lane) for head dims 64 and 128,
 * {@code flash_decode_bf16} (a key over 8-32 lanes) for 256. Everything else with few rows runs {@code flash_attn_fwd} in f32 (16 rows
 * per block; any head dim up to 256, f32 or bf16 cache).
 */
public final class CudaAttention {
    static final int QT = 16;
    static final int KT = 32;
    /** The fewest query rows for which a tensor-core kernel is used. */
    static final int TC_MIN_ROWS = 16;
    /** From this many partials on, {@link #merge} gives a block, not a warp, to each (row, head). */
    static final int WIDE_MERGE_MIN_PARTS = 8;

    /** The tensor-core attention kernels (same contract; compared by CudaAttentionBench). */
    public enum TcKernel {
        /** mma.sync, 64 query rows a block (4 warps, two blocks per SM); any GPU from sm_80 on. */
        MMA_64(64, 128),
        /** mma.sync, 128 rows a block (8 warps, one block per SM). */
        MMA_128(128, 256),
        /** Hopper's wgmma, 128 rows a block (two warpgroups), one block per SM; head dim 128, compute capability 9.0 only. */
        WGMMA(128, 256),
        /** The same with two blocks per SM (the compiler holds it to 128 registers a thread). */
        WGMMA_X2(128, 256),
        /**
         * cuDNN's fused flash attention (cuDNN 9 graph API through FFM) for {@link #attendPrefill}; every other
         * launch, and every shape cuDNN refuses, runs WGMMA_X2 (MMA_64 off Hopper or at head dim 64).
         */
        CUDNN(128, 256);

        final int rows;
        final int threads;

        TcKernel(int rows, int threads) {
            this.rows = rows;
            this.threads = threads;
        }

        boolean hopper() {
            return this == WGMMA || this == WGMMA_X2;
        }
    }

    /**
     * The default: cuDNN's fused attention, measured faster than our best kernel (WGMMA_X2) in the same run of
     * CudaAttentionBench (BENCHMARKS.md, GPU); as a default it is asked on Hopper (compute capability 9.0) only,
     * where it was measured; elsewhere, and without cuDNN, WGMMA_X2 (MMA_64 off Hopper).
     */
    static final TcKernel DEFAULT_TC = TcKernel.CUDNN;
    /** The fewest query rows for which cuDNN is asked (fewer: our kernel, without the graph's set-up per shape). */
    static final int CUDNN_MIN_ROWS = 64;
    /**
     * As the default, cuDNN is asked for a shape it has no plan for only from this many query-key pairs on: a
     * new plan costs 35-60 ms to build on the H200 (the first of a process about 0.5 s; CudnnProbe --builds),
     * which cuDNN's speed-up over our kernel repays across the layers only from about 8K x 8K. Shapes with a
     * plan (the same block shape on every star host, every layer, later requests) always go to cuDNN.
     */
    static final long CUDNN_MIN_NEW_PLAN_PAIRS = 1L << 26;
    private static final java.util.Set<String> NOTED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final CudaDevice dev;
    private final TcKernel tcKernel;
    private long scratch;
    private long scratchBytes;
    private long qb, qbBytes, outF, outFBytes;  // bf16 queries for cuDNN; f32 output of our kernel when the caller has none
    private boolean cudnnUsable = true;
    private boolean cudnnAnyGpu = true;  // false: the default, asked on Hopper only
    /**
     * Whether few query rows over a bf16 cache go to a decode kernel (the default, {@link #decodeTiled}) rather than
     * {@code flash_attn_fwd}; off only to compare the two (CudaSelfCheck, -Dstarattn.cuda.decodeKernel=false).
     */
    boolean decodeKernel = Switches.cudaDecodeKernel();
    /** Whether {@link #merge} of many partials takes {@code lse_merge_wide}; off only to compare (CudaSelfCheck). */
    boolean wideMerge = true;
    /** Launches that cuDNN computed (checks and benchmarks tell cuDNN from the fallback by it). */
    int cudnnRuns;

    /** With the default tensor-core kernel, or the one named by -Dstarattn.cuda.tc (for benchmarks). */
    public CudaAttention(CudaDevice dev) {
        this(dev, chosenTcKernel());
        this.cudnnAnyGpu = Switches.cudaTc() != null;  // named explicitly: on any GPU
    }

    private static TcKernel chosenTcKernel() {
        String name = java.util.Objects.requireNonNullElse(Switches.cudaTc(), DEFAULT_TC.name());
        try {
            return TcKernel.valueOf(name.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-Dstarattn.cuda.tc=" + name + " is not a kernel: use one of "
                    + java.util.Arrays.toString(TcKernel.values()));
        }
    }

    public CudaAttention(CudaDevice dev, TcKernel tcKernel) {
        this.dev = dev;
        this.tcKernel = tcKernel;
    }

    /** The tensor-core kernel a launch over head dim {@code hd} runs: wgmma only where it exists and fits. */
    TcKernel tcKernel(int hd) {
        TcKernel k = tcKernel == TcKernel.CUDNN ? TcKernel.WGMMA_X2 : tcKernel;
        if (k.hopper() && (hd != 128 || dev.computeCapability() != 90)) return TcKernel.MMA_64;
        return k;
    }

    /** The kernel chosen at construction (CUDNN included). */
    TcKernel chosen() {
        return tcKernel;
    }

    static int smemBytes(int hd) {
        return 4 * (KT * (hd + 1) + KT * hd + QT * hd + KT);
    }

    static int tcSmemBytes(int hd, TcKernel k) {
        if (k.hopper()) return 2 * k.rows * hd + 4 * 2 * 64 * hd + 4 * 2 * 64 + 1024;  // Q, 2 x (K, V), positions, 1 KiB to align
        int ld = hd + 8;
        return 2 * (k.rows * ld + 4 * 64 * ld) + 4 * 2 * 64;  // Q, 2 x (K, V) tiles in bf16; 2 x 64 key positions
    }

    /** Whether a launch of {@code rows} queries over {@code kv} goes to a tensor-core kernel. */
    static boolean tensorCores(int rows, DeviceKv kv) {
        return kv.bf16 && (kv.headDim == 64 || kv.headDim == 128) && rows >= TC_MIN_ROWS;
    }

    /** Key splits for a launch: more than one only when the grid would leave the GPU idle. */
    int splits(int rows, int heads, int keys) {
        return splits(rows, heads, keys, QT);
    }

    int splits(int rows, int heads, int keys, int rowsPerBlock) {
        int blocks = ((rows + rowsPerBlock - 1) / rowsPerBlock) * heads;
        int target = 2 * dev.multiprocessors();
        if (blocks >= target || keys < 1024) return 1;
        return Math.max(1, Math.min(Math.min(keys / 256, (4 * target + blocks - 1) / blocks), 64));
    }

    /**
     * Attention of device queries q (rows x heads x hd, RoPE applied) at device positions qPos over keys
     * [k0, k1) of kv; writes out (rows x heads x hd) and lse (rows x heads).
     */
    public void attend(long q, long qPos, int rows, int heads, DeviceKv kv, int k0, int k1, long out, long lse) {
        attend(q, qPos, rows, heads, kv, k0, k1, 0, out, lse);
    }

    /**
     * {@link #attend}, where {@code dynK1}, when not 0, is a device int that replaces {@code k1} when the kernel runs (a
     * decode step captured into a CUDA graph, whose cache grows between replays); the split count is chosen for
     * {@code k1}. Only a decode-kernel launch ({@link #decodeVectors} above 0) takes it.
     */
    void attend(long q, long qPos, int rows, int heads, DeviceKv kv, int k0, int k1, long dynK1, long out, long lse) {
        int hd = kv.headDim;
        if (hd > 256) throw new CudaException("head_dim " + hd + " is above the GPU kernel's limit of 256");
        if (heads % kv.kvHeads != 0) throw new IllegalArgumentException(heads + " query heads do not group over " + kv.kvHeads);
        float scale = (float) (1.0 / Math.sqrt(hd));
        int keys = Math.max(0, k1 - k0);
        if (decodeVectors(rows, heads, kv) > 0) {
            attendDecode(q, qPos, rows, heads, kv, k0, k0 + keys, dynK1, out, lse);
            return;
        }
        if (dynK1 != 0) throw new IllegalArgumentException("a device key count needs a decode-kernel launch");
        boolean tc = tensorCores(rows, kv);
        int rowsPerBlock = tc ? tcKernel(hd).rows : QT;
        int splits = splits(rows, heads, keys, rowsPerBlock);
        int gx = (rows + rowsPerBlock - 1) / rowsPerBlock;
        if (splits == 1) {
            launch(tc, gx, heads, 1, q, qPos, rows, heads, kv, k0, Math.max(k0, k1), scale, out, lse);
            return;
        }
        long plane = (long) rows * heads;
        long parts = splitScratch(splits, plane, hd), lses = parts + 4L * splits * plane * hd;
        launch(tc, gx, heads, splits, q, qPos, rows, heads, kv, k0, k1, scale, parts, lses);
        merge(parts, lses, splits, (int) plane, hd, out, lse);
    }

    /** Device scratch for {@code splits} partials of {@code plane} (row, head)s: outputs, then their LSEs; grown as needed. */
    private long splitScratch(int splits, long plane, int hd) {
        long need = 4L * splits * plane * (hd + 1);
        if (need > scratchBytes) {
            dev.free(scratch);
            scratch = dev.alloc(need);
            scratchBytes = need;
        }
        return scratch;
    }

    /**
     * The query vectors per kv head (rows x heads / kvHeads, rounded up to 1, 2, 4 or 8) with which
     * a decode kernel takes this launch, or 0 where none does: an f32 cache, a head dim other than
     * 64, 128 or 256, more than 8 vectors, a cache not 16-byte aligned, or turned off ({@link #decodeKernel}).
     */
    int decodeVectors(int rows, int heads, DeviceKv kv) {
        if (!decodeKernel || !kv.bf16 || rows < 1) return 0;
        int hd = kv.headDim;
        if (hd != 64 && hd != 128 && hd != 256) return 0;
        if (kv.k % 16 != 0 || kv.v % 16 != 0) return 0;
        int n = rows * (heads / kv.kvHeads);
        if (n > 8) return 0;
        return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8;
    }

    /**
     * Decode kernel blocks per SM over all kv heads ({@code -Dstarattn.cuda.decodeBlocksPerSm}; 0 = by kernel), keys a
     * split at least, splits at most. By kernel, as measured on an H200 (Llama-3-8B heads, one row, merge included;
     * BENCHMARKS.md): the tiled kernel 2 a SM (32K keys 0.058 ms, 128K 0.154, against 0.073 / 0.176 with 4 and
     * 0.085 / 0.180 with 8: fewer splits to merge), the untiled one 8 a SM (128K 0.337 ms against 0.393 with 4).
     */
    int decodeBlocksPerSm = Switches.cudaDecodeBlocksPerSm();
    int decodeMinKeys = Switches.cudaDecodeMinKeys();
    int decodeMaxSplits = Switches.cudaDecodeMaxSplits();

    /**
     * Key splits for the decode kernel: about {@link #decodeBlocksPerSm} blocks per SM over all kv heads, at least
     * {@link #decodeMinKeys} keys a split (a block takes 32-128 keys a step), at most {@link #decodeMaxSplits} splits.
     */
    int decodeSplits(int kvHeads, int keys) {
        return decodeSplits(kvHeads, keys, decodeTiled);
    }

    int decodeSplits(int kvHeads, int keys, boolean tiled) {
        int perSm = decodeBlocksPerSm > 0 ? decodeBlocksPerSm : tiled ? 2 : 8;
        int target = perSm * dev.multiprocessors();
        return Math.max(1, Math.min(Math.min((target + kvHeads - 1) / kvHeads, keys / Math.max(1, decodeMinKeys)), decodeMaxSplits));
    }

    /**
     * Decode attention by the tiled kernel ({@code flash_decode_tiled_bf16}: a key a lane, 32 keys a warp step) where
     * the head dim is 64 or 128, else by {@code flash_decode_bf16}; {@code -Dstarattn.cuda.decodeTiled=false} keeps
     * the latter everywhere (to compare them).
     */
    boolean decodeTiled = Switches.cudaDecodeTiled();

    /** Dynamic shared memory of {@code flash_decode_tiled_bf16_<nq>_<hd>} (its DecodeTiledLayout::BYTES). */
    static int decodeTiledSmem(int nq, int hd) {
        int warps = 4, tk = 32;
        return nq * hd * 4 + warps * tk * (hd + 8) * 2 + warps * tk * nq * 4 + 2 * warps * nq * 4;
    }

    /** Decode attention merged into out/lse: the splits of {@link #attendDecodeParts} (one split writes out/lse directly). */
    private void attendDecode(long q, long qPos, int rows, int heads, DeviceKv kv, int k0, int k1, long dynK1, long out, long lse) {
        int splits = decodeParts(rows, heads, kv, k1 - k0);
        if (splits == 1) {
            attendDecodeParts(q, qPos, rows, heads, kv, k0, k1, dynK1, out, lse);
            return;
        }
        long plane = (long) rows * heads;
        long parts = splitScratch(splits, plane, kv.headDim), lses = parts + 4L * splits * plane * kv.headDim;
        attendDecodeParts(q, qPos, rows, heads, kv, k0, k1, dynK1, parts, lses);
        merge(parts, lses, splits, (int) plane, kv.headDim, out, lse);
    }

    /**
     * How many partials {@link #attendDecodeParts} writes for {@code rows} over {@code keys} keys of {@code kv} (its key
     * splits), or 0 where no decode kernel takes the launch.
     */
    int decodeParts(int rows, int heads, DeviceKv kv, int keys) {
        if (decodeVectors(rows, heads, kv) == 0) return 0;
        return decodeSplits(kv.kvHeads, keys, decodeTiled && kv.headDim <= 128);
    }

    /**
     * A decode launch whose key splits are left unmerged: split s writes out + s * rows*heads*hd and lse + s *
     * rows*heads, {@link #decodeParts} of them, for the caller to merge with other hosts' partials in one
     * {@link #merge} (star phase 2 with several hosts on one GPU: one merge a layer instead of one per host and
     * one over the hosts). {@code dynK1} as in {@link #attend}. Returns the number of partials written.
     */
    int attendDecodeParts(long q, long qPos, int rows, int heads, DeviceKv kv, int k0, int k1, long dynK1, long out, long lse) {
        int nq = decodeVectors(rows, heads, kv);
        if (nq == 0) throw new IllegalArgumentException("no decode kernel takes this launch");
        int hd = kv.headDim;
        boolean tiled = decodeTiled && hd <= 128;
        int splits = decodeSplits(kv.kvHeads, Math.max(0, k1 - k0), tiled);
        String name = (tiled ? "flash_decode_tiled_bf16_" : "flash_decode_bf16_") + nq + "_" + hd;
        dev.launch(name, kv.kvHeads, splits, 1, 128, tiled ? decodeTiledSmem(nq, hd) : 0, q, qPos, rows, heads, kv.k, kv.v, kv.pos,
                kv.kvHeads, k0, Math.max(k0, k1), dynK1, (float) (1.0 / Math.sqrt(hd)), out, lse);
        return splits;
    }

    /**
     * Grows the split scratch for a decode launch of {@code rows} over {@code keys} keys of {@code kv} now, so that the
     * launch itself allocates nothing (a capture into a CUDA graph may not).
     */
    void reserveDecode(int rows, int heads, DeviceKv kv, int keys) {
        int splits = decodeParts(rows, heads, kv, keys);
        if (splits > 1) splitScratch(splits, (long) rows * heads, kv.headDim);
    }

    private void launch(boolean tc, int gx, int heads, int splits, long q, long qPos, int rows, int h, DeviceKv kv, int k0, int k1,
                        float scale, long out, long lse) {
        int hd = kv.headDim;
        if (tc) {
            TcKernel k = tcKernel(hd);
            String name = switch (k) {
                case MMA_64 -> "flash_attn_tc_" + hd;
                case MMA_128 -> "flash_attn_tc_" + hd + "_r128";
                case WGMMA -> "flash_attn_wg_128";
                case WGMMA_X2 -> "flash_attn_wg_128_x2";
                case CUDNN -> throw new IllegalStateException("tcKernel(hd) never returns CUDNN");
            };
            dev.launch(name, gx, heads, splits, k.threads, tcSmemBytes(hd, k), q, qPos, rows, h, kv.k, kv.v, kv.pos,
                    kv.kvHeads, k0, k1, scale, out, lse);
        } else {
            dev.launch(kv.bf16 ? "flash_attn_fwd_bf16kv" : "flash_attn_fwd", gx, heads, splits, 128, smemBytes(hd), q, qPos, rows, h,
                    kv.k, kv.v, kv.pos, kv.kvHeads, hd, k0, k1, scale, out, lse, KT);
        }
    }

    /**
     * Prefill attention: the queries q (rows x heads x hd, f32, RoPE applied) are the last {@code rows} keys of kv,
     * appended by the caller just before, and attend causally over all of kv. Writes outBf16 (rows x heads x hd,
     * bf16: what the output projection reads) and lse (rows x heads); {@code out} (f32, rows x heads x hd, or 0)
     * is scratch for our own kernels. {@code qBf16} is q already rounded to bf16 (RoPE writes it), which cuDNN reads;
     * 0 makes cuDNN's path round q itself first. With {@link TcKernel#CUDNN}, positions that strictly ascend over the cache
     * (then causal by position is causal by index, bottom-right aligned), at least {@link #CUDNN_MIN_ROWS} rows and,
     * as the default, a shape worth its plan ({@link #CUDNN_MIN_NEW_PLAN_PAIRS}), cuDNN's fused attention computes it; otherwise, or where cuDNN refuses, {@link #attend} and a bf16 rounding.
     */
    public void attendPrefill(long q, long qBf16, long qPos, int rows, int heads, DeviceKv kv, long out, long outBf16, long lse) {
        if (usesCudnn(rows, heads, kv) && cudnnForward(q, qBf16, rows, heads, kv, outBf16, lse)) return;
        long n = (long) rows * heads * kv.headDim;
        long o = out;
        if (o == 0) {
            if (4 * n > outFBytes) {
                dev.free(outF);
                outF = dev.alloc(4 * n);
                outFBytes = 4 * n;
            }
            o = outF;
        }
        attend(q, qPos, rows, heads, kv, 0, kv.size, o, lse);
        dev.launch("f32_to_bf16", dev.gridFor(n, 256), 1, 1, 256, 0, o, outBf16, n);
    }

    /** Whether {@link #attendPrefill} of this launch asks cuDNN. */
    boolean usesCudnn(int rows, int heads, DeviceKv kv) {
        return tcKernel == TcKernel.CUDNN && cudnnUsable && (cudnnAnyGpu || dev.computeCapability() == 90) && kv.bf16 && rows >= CUDNN_MIN_ROWS && rows <= kv.size
                && kv.headDim % 8 == 0 && kv.headDim <= 256 && heads % kv.kvHeads == 0 && kv.positionsAscending()
                && (cudnnAnyGpu || worthANewPlan(rows, kv) || hasPlan(rows, heads, kv));
    }

    private static boolean worthANewPlan(int rows, DeviceKv kv) {
        return (long) rows * kv.size >= CUDNN_MIN_NEW_PLAN_PAIRS;
    }

    private boolean hasPlan(int rows, int heads, DeviceKv kv) {
        CudnnSdpa c = dev.cudnnIfOpen();
        return c != null && c.hasPlan(rows, kv.size, heads, kv.kvHeads, kv.headDim);
    }

    private boolean cudnnForward(long q, long qBf16, int rows, int heads, DeviceKv kv, long outBf16, long lse) {
        int hd = kv.headDim;
        CudnnSdpa c;
        try {
            c = dev.cudnn();
        } catch (CudaException e) {
            cudnnUsable = false;
            note("cuDNN attention unavailable, running " + tcKernel(hd) + " instead: " + e.getMessage());
            return false;
        }
        long q16 = qBf16;
        if (q16 == 0) {  // q not handed over in bf16: rounded here, into this object's scratch
            long n = (long) rows * heads * hd;
            if (2 * n > qbBytes) {
                dev.free(qb);
                qb = dev.alloc(2 * n);
                qbBytes = 2 * n;
            }
            q16 = qb;
            dev.launch("f32_to_bf16", dev.gridFor(n, 256), 1, 1, 256, 0, q, q16, n);
        }
        try {
            if (c.forward(q16, kv.k, kv.v, outBf16, lse, rows, kv.size, heads, kv.kvHeads, hd, (float) (1.0 / Math.sqrt(hd)))) {
                cudnnRuns++;
                return true;
            }
            note("cuDNN attention refused rows=" + rows + " keys=" + kv.size + " heads=" + heads + "/" + kv.kvHeads + " hd=" + hd
                    + ", running " + tcKernel(hd) + " for it: " + c.lastRefusal());
        } catch (CudaException e) {
            cudnnUsable = false;
            note("cuDNN attention failed, running " + tcKernel(hd) + " from now on: " + e.getMessage());
        }
        return false;
    }

    /** One line on stderr per distinct message (at most 20 in a run). */
    private static void note(String message) {
        if (NOTED.size() < 20 && NOTED.add(message)) System.err.println(message);
    }

    /** Host-array convenience (checks): {@link #attendPrefill} of q (the last rows of kv) over all of kv; out rounded to bf16. */
    public Partial attendPrefill(float[] q, int rows, int heads, DeviceKv kv) {
        int hd = kv.headDim;
        Partial r = Partial.empty(rows, heads, hd);
        if (rows == 0) return r;
        int[] qPos = java.util.Arrays.copyOfRange(kv.hostPos, kv.size - rows, kv.size);
        long dq = dev.alloc(4L * q.length), dp = dev.alloc(4L * rows), dout = dev.alloc(2L * rows * heads * hd),
                dl = dev.alloc(4L * rows * heads);
        try {
            dev.copyIn(dq, q, 0, rows * heads * hd);
            dev.copyIn(dp, qPos, 0, rows);
            attendPrefill(dq, 0, dp, rows, heads, kv, 0, dout, dl);
            short[] h = new short[rows * heads * hd];
            dev.copyOut(dout, h, 0, h.length);
            System.arraycopy(Bf16.toFloats(h), 0, r.out(), 0, h.length);
            dev.copyOut(dl, r.lse(), 0, rows * heads);
        } finally {
            freeAll(dq, dp, dout, dl);
        }
        return r.withPairs(kv.visiblePairs(qPos, 0, kv.size) * heads);
    }

    private void freeAll(long... buffers) {
        for (long b : buffers) dev.free(b);
    }

    /** LSE merge on the GPU: parts [p][rh][hd], lses [p][rh] -> out [rh][hd], lseOut [rh]. */
    public void merge(long parts, long lses, int p, int rh, int hd, long out, long lseOut) {
        if (wideMerge && p > WIDE_MERGE_MIN_PARTS && p <= 4096) {  // decode's key splits: many partials, few (row, head)s
            dev.launch("lse_merge_wide", rh, 1, 1, 128, 4 * p, parts, lses, p, rh, hd, out, lseOut);
            return;
        }
        int warpsPerBlock = 4;
        dev.launch("lse_merge", (rh + warpsPerBlock - 1) / warpsPerBlock, 1, 1, 32 * warpsPerBlock, 0, parts, lses, p, rh, hd, out, lseOut);
    }

    /** Host-array convenience (tests, phase 2): attention of q over all of kv, as a {@link Partial}. */
    public Partial attend(float[] q, int rows, int[] qPos, int heads, DeviceKv kv) {
        return attend(q, rows, qPos, heads, kv, 0, kv.size);
    }

    /** The same over keys [k0, k1) of kv only. */
    public Partial attend(float[] q, int rows, int[] qPos, int heads, DeviceKv kv, int k0, int k1) {
        int hd = kv.headDim;
        Partial r = Partial.empty(rows, heads, hd);
        if (rows == 0 || k1 <= k0) return r;
        long dq = dev.alloc(4L * q.length), dp = dev.alloc(4L * rows), dout = dev.alloc(4L * rows * heads * hd),
                dl = dev.alloc(4L * rows * heads);
        try {
            dev.copyIn(dq, q, 0, rows * heads * hd);
            dev.copyIn(dp, qPos, 0, rows);
            attend(dq, dp, rows, heads, kv, k0, k1, dout, dl);
            dev.copyOut(dout, r.out(), 0, rows * heads * hd);
            dev.copyOut(dl, r.lse(), 0, rows * heads);
        } finally {
            freeAll(dq, dp, dout, dl);
        }
        return r.withPairs(kv.visiblePairs(qPos, k0, k1) * heads);
    }

    /** Host-array convenience: merges partials on the GPU (same result as {@code LseMerge.merge}). */
    public Partial merge(List<Partial> ps) {
        Partial f = ps.getFirst();
        int rh = f.rows() * f.heads(), hd = f.headDim(), p = ps.size();
        long parts = dev.alloc(4L * p * rh * hd), lses = dev.alloc(4L * p * rh), out = dev.alloc(4L * rh * hd), lo = dev.alloc(4L * rh);
        try {
            long pairs = 0;
            for (int i = 0; i < p; i++) {
                dev.copyIn(parts + 4L * i * rh * hd, ps.get(i).out(), 0, rh * hd);
                dev.copyIn(lses + 4L * i * rh, ps.get(i).lse(), 0, rh);
                pairs += ps.get(i).pairs();
            }
            merge(parts, lses, p, rh, hd, out, lo);
            Partial r = new Partial(f.rows(), f.heads(), hd, new float[rh * hd], new float[rh], pairs);
            dev.copyOut(out, r.out(), 0, rh * hd);
            dev.copyOut(lo, r.lse(), 0, rh);
            return r;
        } finally {
            freeAll(parts, lses, out, lo);
        }
    }

    public void close() {
        dev.free(scratch);
        dev.free(qb);
        dev.free(outF);
        scratch = qb = outF = 0;
        scratchBytes = qbBytes = outFBytes = 0;
    }
}
