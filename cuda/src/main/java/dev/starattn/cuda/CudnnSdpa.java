package dev.starattn.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * cuDNN's fused flash attention (forward, with the log-sum-exp) on one GPU: the graph that
 * cudnn-frontend's SDPA node expands to, built from primitive backend operations, over our own
 * device layouts (no transposes):
 *
 * <pre>
 *   S = Q . K^T (f32)  ->  S * scale  ->  causal mask: GEN_INDEX rows (+ s_kv - s_q) >= GEN_INDEX cols, else a large
 *   negative (BINARY_SELECT)  ->  M = max_row, E = exp(S - M), Z = sum_row E, Stats = M + log Z, P = E / Z (bf16)
 *   ->  O = P . V
 * </pre>
 *
 * Q is {@code rows x heads x hd} bf16 (dims [1, h_q, s_q, d], strides [.., d, h_q d, 1]), K and V the
 * token-major bf16 cache ({@code [t][kvHead][hd]}: K^T as [1, h_kv, d, s_kv] with strides [.., d, 1, h_kv d]),
 * O like Q, Stats ({@code rows x heads} f32, natural-log LSE of the scaled scores) as [1, h_q, s_q, 1] with
 * strides [.., 1, h_q, 1]; where cuDNN wants Stats packed per head instead, it is written so into scratch and
 * transposed by cuBLAS. Grouped-query heads (h_q a multiple of h_kv) are cuDNN's own broadcast of the batched
 * matmul. The mask is aligned bottom-right (query row i sees keys 0 .. i + s_kv - s_q): the queries are the last
 * s_q keys. A finalized execution plan (heuristics mode A, the first engine configuration that finalizes) is
 * cached per shape; shapes that cuDNN refuses are remembered too, with the reason.
 */
final class CudnnSdpa implements AutoCloseable {
    private static final long UID_Q = 1, UID_K = 2, UID_V = 3, UID_O = 4, UID_STATS = 5, UID_SCALE = 6, UID_NEG = 7, UID_SKV = 8,
            UID_SQ = 9;
    /** The masked score: what cudnn-frontend puts in (the lowest finite float; exp of it minus the max is 0). */
    static final float MASKED = -Float.MAX_VALUE;
    private static final int CACHE = 64;
    /** Variant packs kept (LRU): a few shapes x one per layer of the largest models. */
    private static final int PACKS = 512;
    private static final long MAX_WORKSPACE = 1L << 30;

    record Shape(int sq, int skv, int hq, int hk, int hd, boolean packedStats) {}

    /** A finalized plan and what it holds on to. */
    private static final class Plan {
        MemorySegment plan;
        final List<MemorySegment> keep = new ArrayList<>();
        long workspace;
        long engine = -1;
    }

    private final Cudnn lib;
    private final CudaDevice dev;
    private final MemorySegment handle;
    private final Map<Shape, Plan> plans = new LinkedHashMap<>(16, 0.75f, true);
    private final Map<Shape, String> refused = new HashMap<>();
    private final Map<PackKey, Pack> packs = new LinkedHashMap<>(64, 0.75f, true);
    private long workspace, workspaceBytes, stats, statsBytes;
    /** Whether the Stats output must be packed per head ([1, h, s, 1], strides [h s, s, 1, 1]); learnt on the first graph. */
    private Boolean packedStats;
    private String lastRefusal;
    /** Plans built so far and the time that took (graph, heuristics, finalize: per new shape). */
    int built;
    long buildNanos;

    private CudnnSdpa(Cudnn lib, CudaDevice dev) {
        this.lib = lib;
        this.dev = dev;
        dev.makeCurrent();
        this.handle = lib.createHandle();
    }

    /** cuDNN on this device; a {@link CudaException} says why not (library absent or too old). */
    static CudnnSdpa open(CudaDevice dev) {
        return new CudnnSdpa(Cudnn.get(), dev);
    }


    long version() {
        return lib.version;
    }

    /** Why the last refused shape was refused (null if none was). */
    String lastRefusal() {
        return lastRefusal;
    }

    /** The engine (global index) of the plan for this shape, or -1. */
    long engine(int sq, int skv, int hq, int hk, int hd) {
        Plan p = plans.get(new Shape(sq, skv, hq, hk, hd, packedStats != null && packedStats));
        return p == null ? -1 : p.engine;
    }

    /** Whether a plan for this shape is built and cached (no build is started). */
    synchronized boolean hasPlan(int sq, int skv, int hq, int hk, int hd) {
        return plans.containsKey(new Shape(sq, skv, hq, hk, hd, packedStats != null && packedStats));
    }

    /**
     * O and LSE of bf16 q (rows x hq x hd) over bf16 k, v (skv x hk x hd): o bf16 like q, lse f32 rows x hq.
     * False (nothing written) when cuDNN has no engine for this shape; {@link #lastRefusal()} says why.
     */
    synchronized boolean forward(long q, long k, long v, long o, long lse, int sq, int skv, int hq, int hk, int hd, float scale) {
        Plan p = plan(sq, skv, hq, hk, hd);
        if (p == null) return false;
        boolean packed = packedStats;
        dev.makeCurrent();
        if (p.workspace > workspaceBytes) {
            dev.free(workspace);
            workspace = dev.alloc(p.workspace);
            workspaceBytes = p.workspace;
        }
        long statsOut = lse;
        if (packed) {
            long need = 4L * sq * hq;
            if (need > statsBytes) {
                dev.free(stats);
                stats = dev.alloc(need);
                statsBytes = need;
            }
            statsOut = stats;
        }
        lib.execute(handle, p.plan, pack(new PackKey(sq, skv, q, k, v, o, statsOut, workspace, scale)));
        if (packed) dev.transposeF32(stats, lse, hq, sq);  // [h][s] -> [s][h]
        return true;
    }

    /** What a variant pack binds: the device pointers, the workspace and the by-value scalars. */
    private record PackKey(int sq, int skv, long q, long k, long v, long o, long stats, long workspace, float scale) {}

    /** A finalized variant pack and the host memory of its by-value scalars, which cuDNN reads at each execute. */
    private record Pack(MemorySegment desc, Arena values) {}

    /**
     * The variant pack for these pointers, built once: creating and finalizing one per launch cost about
     * 0.2 ms of host time, which a short attention call (8K) waits for. The engine's calls repeat the
     * same pointers layer after layer (one cache per layer, the same q, out and lse buffers), so a small
     * cache holds them all. A pack only names addresses, so one found again by equal addresses is right
     * even if the memory behind them was freed and allocated again in between.
     */
    private MemorySegment pack(PackKey key) {
        Pack hit = packs.get(key);
        if (hit != null) return hit.desc();
        Arena values = Arena.ofShared();
        try {
            List<Long> uids = new ArrayList<>(List.of(UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG));
            List<MemorySegment> ptrs = new ArrayList<>(List.of(MemorySegment.ofAddress(key.q()), MemorySegment.ofAddress(key.k()),
                    MemorySegment.ofAddress(key.v()), MemorySegment.ofAddress(key.o()), MemorySegment.ofAddress(key.stats()),
                    Cudnn.floatValue(values, key.scale()), Cudnn.floatValue(values, MASKED)));
            if (key.sq() != key.skv()) {
                uids.add(UID_SKV);
                ptrs.add(Cudnn.intValue(values, key.skv()));
                uids.add(UID_SQ);
                ptrs.add(Cudnn.intValue(values, key.sq()));
            }
            MemorySegment desc = lib.variantPack(uids.stream().mapToLong(Long::longValue).toArray(),
                    ptrs.toArray(MemorySegment[]::new), key.workspace());
            packs.put(key, new Pack(desc, values));
        } catch (RuntimeException e) {
            values.close();
            throw e;
        }
        if (packs.size() > PACKS) {
            Map.Entry<PackKey, Pack> eldest = packs.entrySet().iterator().next();
            packs.remove(eldest.getKey());
            drop(eldest.getValue());
        }
        return packs.get(key).desc();
    }

    private void drop(Pack p) {
        try {
            lib.destroy(p.desc());
        } finally {
            p.values().close();
        }
    }

    private Plan plan(int sq, int skv, int hq, int hk, int hd) {
        if (packedStats == null) {
            // First graph: our LSE layout directly, else Stats packed per head (then transposed).
            Plan p = build(new Shape(sq, skv, hq, hk, hd, false));
            if (p != null) {
                packedStats = false;
                return p;
            }
            String why = lastRefusal;
            p = build(new Shape(sq, skv, hq, hk, hd, true));
            if (p != null) {
                packedStats = true;
                System.err.println("cuDNN attention: Stats in the rows x heads layout refused (" + why + "); packed per head and transposed");
                return p;
            }
            return null;
        }
        return build(new Shape(sq, skv, hq, hk, hd, packedStats));
    }

    private Plan build(Shape s) {
        Plan p = plans.get(s);
        if (p != null) return p;
        String why = refused.get(s);
        if (why != null) {
            lastRefusal = why;
            return null;
        }
        dev.makeCurrent();
        Plan np = new Plan();
        long t0 = System.nanoTime();
        try {
            buildGraph(s, np);
            built++;
            buildNanos += System.nanoTime() - t0;
        } catch (Cudnn.Status e) {
            release(np);
            refused.put(s, e.getMessage());
            lastRefusal = e.getMessage();
            return null;
        } catch (RuntimeException e) {
            release(np);
            throw e;
        }
        plans.put(s, np);
        if (plans.size() > CACHE) {
            Map.Entry<Shape, Plan> eldest = plans.entrySet().iterator().next();
            plans.remove(eldest.getKey());
            release(eldest.getValue());
        }
        return np;
    }

    private MemorySegment keep(Plan p, MemorySegment d) {
        p.keep.add(d);
        return d;
    }

    private MemorySegment tensor(Plan p, long uid, int type, long[] dims, long[] strides, boolean virtual, boolean byValue) {
        MemorySegment t = keep(p, lib.create(Cudnn.TENSOR_DESCRIPTOR));
        lib.setEnum(t, Cudnn.ATTR_TENSOR_DATA_TYPE, Cudnn.TYPE_DATA_TYPE, type);
        lib.setLongs(t, Cudnn.ATTR_TENSOR_DIMENSIONS, dims);
        lib.setLongs(t, Cudnn.ATTR_TENSOR_STRIDES, strides);
        lib.setLongs(t, Cudnn.ATTR_TENSOR_UNIQUE_ID, uid);
        lib.setLongs(t, Cudnn.ATTR_TENSOR_BYTE_ALIGNMENT, 16);
        if (virtual) lib.setBool(t, Cudnn.ATTR_TENSOR_IS_VIRTUAL, true);
        if (byValue) lib.setBool(t, Cudnn.ATTR_TENSOR_IS_BY_VALUE, true);
        lib.finalize(t, "tensor " + uid);
        return t;
    }

    private MemorySegment scalar(Plan p, long uid, int type) {
        return tensor(p, uid, type, new long[] {1, 1, 1, 1}, new long[] {1, 1, 1, 1}, false, true);
    }

    /** A pointwise operation y = mode(x[, b[, t]]) computed in {@code prec}; axis >= 0 for GEN_INDEX. */
    private MemorySegment pointwise(Plan p, int mode, int prec, int axis, MemorySegment x, MemorySegment b, MemorySegment t, MemorySegment y) {
        MemorySegment pw = keep(p, lib.create(Cudnn.POINTWISE_DESCRIPTOR));
        lib.setEnum(pw, Cudnn.ATTR_POINTWISE_MODE, Cudnn.TYPE_POINTWISE_MODE, mode);
        lib.setEnum(pw, Cudnn.ATTR_POINTWISE_MATH_PREC, Cudnn.TYPE_DATA_TYPE, prec);
        if (axis >= 0) lib.setLongs(pw, Cudnn.ATTR_POINTWISE_AXIS, axis);
        lib.finalize(pw, "pointwise descriptor " + mode);
        MemorySegment op = keep(p, lib.create(Cudnn.OPERATION_POINTWISE_DESCRIPTOR));
        lib.setDescs(op, Cudnn.ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_POINTWISE_XDESC, x);
        if (b != null) lib.setDescs(op, Cudnn.ATTR_OPERATION_POINTWISE_BDESC, b);
        if (t != null) lib.setDescs(op, Cudnn.ATTR_OPERATION_POINTWISE_TDESC, t);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_POINTWISE_YDESC, y);
        lib.finalize(op, "pointwise operation " + mode);
        return op;
    }

    private MemorySegment matmul(Plan p, MemorySegment a, MemorySegment b, MemorySegment c) {
        MemorySegment mm = keep(p, lib.create(Cudnn.MATMUL_DESCRIPTOR));
        lib.setEnum(mm, Cudnn.ATTR_MATMUL_COMP_TYPE, Cudnn.TYPE_DATA_TYPE, Cudnn.DATA_FLOAT);
        lib.finalize(mm, "matmul descriptor");
        MemorySegment op = keep(p, lib.create(Cudnn.OPERATION_MATMUL_DESCRIPTOR));
        lib.setDescs(op, Cudnn.ATTR_OPERATION_MATMUL_ADESC, a);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_MATMUL_BDESC, b);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_MATMUL_CDESC, c);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_MATMUL_DESC, mm);
        lib.finalize(op, "matmul operation");
        return op;
    }

    private MemorySegment reduction(Plan p, int mode, MemorySegment x, MemorySegment y) {
        MemorySegment r = keep(p, lib.create(Cudnn.REDUCTION_DESCRIPTOR));
        lib.setEnum(r, Cudnn.ATTR_REDUCTION_OPERATOR, Cudnn.TYPE_REDUCTION_OPERATOR_TYPE, mode);
        lib.setEnum(r, Cudnn.ATTR_REDUCTION_COMP_TYPE, Cudnn.TYPE_DATA_TYPE, Cudnn.DATA_FLOAT);
        lib.finalize(r, "reduction descriptor");
        MemorySegment op = keep(p, lib.create(Cudnn.OPERATION_REDUCTION_DESCRIPTOR));
        lib.setDescs(op, Cudnn.ATTR_OPERATION_REDUCTION_XDESC, x);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_REDUCTION_YDESC, y);
        lib.setDescs(op, Cudnn.ATTR_OPERATION_REDUCTION_DESC, r);
        lib.finalize(op, "reduction operation");
        return op;
    }

    private void buildGraph(Shape s, Plan p) {
        long sq = s.sq(), skv = s.skv(), hq = s.hq(), hk = s.hk(), d = s.hd();
        long[] sDims = {1, hq, sq, skv}, sStrides = {hq * sq * skv, sq * skv, skv, 1};
        long[] rDims = {1, hq, sq, 1}, rStrides = {hq * sq, sq, 1, 1};
        long[] oStrides = {sq * hq * d, d, hq * d, 1};
        long[] statsStrides = s.packedStats() ? rStrides : new long[] {sq * hq, 1, hq, 1};
        int f32 = Cudnn.DATA_FLOAT, i32 = Cudnn.DATA_INT32;
        long vuid = 100;

        MemorySegment tq = tensor(p, UID_Q, Cudnn.DATA_BFLOAT16, new long[] {1, hq, sq, d}, oStrides, false, false);
        MemorySegment tk = tensor(p, UID_K, Cudnn.DATA_BFLOAT16, new long[] {1, hk, d, skv}, new long[] {skv * hk * d, d, 1, hk * d}, false, false);
        MemorySegment tv = tensor(p, UID_V, Cudnn.DATA_BFLOAT16, new long[] {1, hk, skv, d}, new long[] {skv * hk * d, d, hk * d, 1}, false, false);
        MemorySegment to = tensor(p, UID_O, Cudnn.DATA_BFLOAT16, new long[] {1, hq, sq, d}, oStrides, false, false);
        MemorySegment tstats = tensor(p, UID_STATS, f32, rDims, statsStrides, false, false);
        MemorySegment tscale = scalar(p, UID_SCALE, f32);
        MemorySegment tneg = scalar(p, UID_NEG, f32);

        List<MemorySegment> ops = new ArrayList<>();
        MemorySegment s0 = tensor(p, vuid++, f32, sDims, sStrides, true, false);
        ops.add(matmul(p, tq, tk, s0));
        MemorySegment s1 = tensor(p, vuid++, f32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_MUL, f32, -1, s0, tscale, null, s1));
        // Causal mask: row (+ s_kv - s_q) >= col.
        MemorySegment row = tensor(p, vuid++, i32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_GEN_INDEX, i32, 2, s1, null, null, row));
        if (sq != skv) {
            MemorySegment tskv = scalar(p, UID_SKV, i32), tsq = scalar(p, UID_SQ, i32);
            MemorySegment r1 = tensor(p, vuid++, i32, sDims, sStrides, true, false);
            ops.add(pointwise(p, Cudnn.PW_ADD, i32, -1, row, tskv, null, r1));
            MemorySegment r2 = tensor(p, vuid++, i32, sDims, sStrides, true, false);
            ops.add(pointwise(p, Cudnn.PW_SUB, i32, -1, r1, tsq, null, r2));
            row = r2;
        }
        MemorySegment col = tensor(p, vuid++, i32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_GEN_INDEX, i32, 3, s1, null, null, col));
        MemorySegment mask = tensor(p, vuid++, Cudnn.DATA_BOOLEAN, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_CMP_GE, Cudnn.DATA_BOOLEAN, -1, row, col, null, mask));
        MemorySegment s2 = tensor(p, vuid++, f32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_BINARY_SELECT, f32, -1, s1, tneg, mask, s2));
        // Softmax with its statistics.
        MemorySegment m = tensor(p, vuid++, f32, rDims, rStrides, true, false);
        ops.add(reduction(p, Cudnn.REDUCE_MAX, s2, m));
        MemorySegment sub = tensor(p, vuid++, f32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_SUB, f32, -1, s2, m, null, sub));
        MemorySegment e = tensor(p, vuid++, f32, sDims, sStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_EXP, f32, -1, sub, null, null, e));
        MemorySegment z = tensor(p, vuid++, f32, rDims, rStrides, true, false);
        ops.add(reduction(p, Cudnn.REDUCE_ADD, e, z));
        MemorySegment logz = tensor(p, vuid++, f32, rDims, rStrides, true, false);
        ops.add(pointwise(p, Cudnn.PW_LOG, f32, -1, z, null, null, logz));
        ops.add(pointwise(p, Cudnn.PW_ADD, f32, -1, m, logz, null, tstats));
        MemorySegment prob = tensor(p, vuid++, Cudnn.DATA_BFLOAT16, sDims, sStrides, true, false);  // P in the i/o type, as bmm2 wants
        ops.add(pointwise(p, Cudnn.PW_DIV, f32, -1, e, z, null, prob));
        ops.add(matmul(p, prob, tv, to));

        MemorySegment graph = keep(p, lib.create(Cudnn.OPERATIONGRAPH_DESCRIPTOR));
        lib.setDescs(graph, Cudnn.ATTR_OPERATIONGRAPH_OPS, ops.toArray(MemorySegment[]::new));
        lib.setHandle(graph, Cudnn.ATTR_OPERATIONGRAPH_HANDLE, handle);
        lib.finalize(graph, "operation graph");

        MemorySegment heur = keep(p, lib.create(Cudnn.ENGINEHEUR_DESCRIPTOR));
        lib.setDescs(heur, Cudnn.ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
        lib.setEnum(heur, Cudnn.ATTR_ENGINEHEUR_MODE, Cudnn.TYPE_HEUR_MODE, Cudnn.HEUR_MODE_A);
        lib.finalize(heur, "engine heuristics");
        int n = (int) lib.count(heur, Cudnn.ATTR_ENGINEHEUR_RESULTS);
        if (n == 0) throw new Cudnn.Status(3000, "cuDNN heuristics (mode A) found no engine for " + s);
        MemorySegment[] cfgs = new MemorySegment[n];
        for (int i = 0; i < n; i++) cfgs[i] = keep(p, lib.create(Cudnn.ENGINECFG_DESCRIPTOR));
        n = (int) lib.getDescs(heur, Cudnn.ATTR_ENGINEHEUR_RESULTS, cfgs);
        StringBuilder why = new StringBuilder();
        for (int i = 0; i < n; i++) {
            MemorySegment plan = lib.create(Cudnn.EXECUTION_PLAN_DESCRIPTOR);
            try {
                lib.setHandle(plan, Cudnn.ATTR_EXECUTION_PLAN_HANDLE, handle);
                lib.setDescs(plan, Cudnn.ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfgs[i]);
                lib.finalize(plan, "execution plan");
            } catch (Cudnn.Status refusal) {
                lib.destroy(plan);
                why.append(" config ").append(i).append(": ").append(refusal.getMessage()).append(';');
                continue;
            }
            long ws = lib.getLong(plan, Cudnn.ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
            if (ws > MAX_WORKSPACE) {  // an engine that materializes the scores is no flash attention
                lib.destroy(plan);
                why.append(" config ").append(i).append(": workspace ").append(ws).append(" bytes;");
                continue;
            }
            p.plan = keep(p, plan);
            p.workspace = ws;
            try {
                MemorySegment engine = keep(p, lib.create(Cudnn.ENGINE_DESCRIPTOR));
                lib.getDescs(cfgs[i], Cudnn.ATTR_ENGINECFG_ENGINE, engine);
                p.engine = lib.getLong(engine, Cudnn.ATTR_ENGINE_GLOBAL_INDEX);
            } catch (Cudnn.Status ignored) {
                // the engine's number is only for the log
            }
            return;
        }
        throw new Cudnn.Status(3000, "no engine configuration of " + n + " finalized for " + s + ":" + why);
    }

    private void release(Plan p) {
        for (int i = p.keep.size() - 1; i >= 0; i--) {
            try {
                lib.destroy(p.keep.get(i));
            } catch (RuntimeException ignored) {
                // best effort
            }
        }
        p.keep.clear();
    }

    @Override
    public synchronized void close() {
        for (Pack p : packs.values()) drop(p);
        packs.clear();
        for (Plan p : plans.values()) release(p);
        plans.clear();
        dev.free(workspace);
        dev.free(stats);
        workspace = stats = 0;
        workspaceBytes = statsBytes = 0;
        try {
            lib.destroyHandle(handle);
        } catch (RuntimeException ignored) {
            // best effort
        }
    }
}
