package dev.starattn.blas;

import dev.starattn.cpu.Parallel;
import dev.starattn.tensor.GemmBackend;
import dev.starattn.tensor.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Prefill matrix products by OpenBLAS's {@code cblas_sgemm} (f32). OpenBLAS multiplies f32, so a
 * quantized (or f16/bf16) weight matrix is dequantized first. By default per call: each thread
 * dequantizes its own range of rows, in blocks of at most {@value #SCRATCH_BYTES} bytes of f32, into
 * a per-thread scratch (hot in its cache when sgemm reads it) and multiplies that; no memory is kept. With {@code -Dstarattn.gemm.cache=SIZE} (e.g.
 * {@code 1g}) f32 copies of the matrices are kept off-heap instead, as long as each matrix lives
 * and while they fit in SIZE (the 125M Q8_0 model's layers need 302 MB); measured no faster on
 * 2K-token chunks here (BENCHMARKS.md), faster on short ones.
 *
 * <p>The work is split over the engine's own threads ({@link Parallel}: each thread one contiguous
 * range of output features, OpenBLAS itself single-threaded), so {@code -Dstarattn.threads} holds
 * for it too and no OpenBLAS worker spins beside the Java kernels between calls (with OpenBLAS's
 * own threads, the Java attention after each product ran measurably slower). For a given thread
 * count the results are the same bits run after run.
 */
final class NativeGemm implements GemmBackend {
    private final OpenBlas blas;
    private final long cacheBudget;
    /** f32 copies of weight matrices, weakly keyed by identity (WeightMatrix keeps Object's equals). */
    private final Map<WeightMatrix, MemorySegment> cache = new WeakHashMap<>();
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

    private final long scratchBytes;

    NativeGemm(OpenBlas blas, long cacheBudget) {
        this(blas, cacheBudget, SCRATCH_BYTES);
    }

    /** {@code scratchBytes}: the per-call block size in bytes of f32 (tests make it small; at least 64 rows). */
    NativeGemm(OpenBlas blas, long cacheBudget, long scratchBytes) {
        this.blas = blas;
        this.cacheBudget = cacheBudget;
        this.scratchBytes = scratchBytes;
        blas.setThreads(1);
    }

    static long parseBytes(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        long mul = 1;
        if (t.endsWith("b")) t = t.substring(0, t.length() - 1);
        if (t.endsWith("k")) mul = 1L << 10;
        else if (t.endsWith("m")) mul = 1L << 20;
        else if (t.endsWith("g")) mul = 1L << 30;
        if (mul != 1) t = t.substring(0, t.length() - 1);
        try {
            long v = Long.parseLong(t.trim());
            if (v < 0) throw new NumberFormatException();
            return Math.multiplyExact(v, mul);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("starattn.gemm.cache takes a size such as 512m or 2g, not '" + s + "'");
        }
    }

    @Override
    public String describe() {
        return "OpenBLAS " + blas.artifactVersion + " cblas_sgemm (" + blas.corename + " kernels), "
                + (cacheBudget > 0 ? "f32 weight copies cached up to " + (cacheBudget >> 20) + " MiB" : "weights dequantized per call")
                + ", " + Parallel.threads() + " threads";
    }

    /** Bytes of f32 weight copies held now. */
    long cachedBytes() {
        synchronized (cache) {
            long sum = 0;
            for (MemorySegment s : cache.values()) sum += s.byteSize();
            return sum;
        }
    }

    /** Per-call dequantization works through blocks of rows of at most this many bytes of f32 per thread. */
    static final long SCRATCH_BYTES = 4L << 20;

    @Override
    public boolean matmul(WeightMatrix w, float[] x, float[] out, int batch) {
        int n = w.rows(), k = w.cols();
        MemorySegment cached = cached(w);
        MemorySegment xs = MemorySegment.ofArray(x), os = MemorySegment.ofArray(out);
        // One contiguous range of output features per thread: every extra call packs x again.
        int parts = Math.max(1, Math.min(Parallel.threads(), n / 16));
        // Dequantized per call: blocks of rows that stay in the thread's cache (and bound its scratch
        // for big models); x is packed again per block, a small cost next to 2 x batch x rows x k flops.
        int block = (int) Math.max(64, Math.min(Integer.MAX_VALUE, scratchBytes / ((long) k * Float.BYTES)));
        Parallel.forRange(parts, 1, (from, to) -> {
            for (int p = from; p < to; p++) {
                int r0 = (int) ((long) n * p / parts), r1 = (int) ((long) n * (p + 1) / parts);
                if (cached != null) {
                    MemorySegment ws = cached.asSlice((long) r0 * k * Float.BYTES, (long) (r1 - r0) * k * Float.BYTES);
                    blas.sgemmNT(batch, r1 - r0, k, xs, k, ws, k, os.asSlice((long) r0 * Float.BYTES), n);
                    continue;
                }
                for (int b0 = r0; b0 < r1; b0 += block) {
                    int b1 = Math.min(r1, b0 + block);
                    float[] s = scratch((b1 - b0) * k);
                    dequantize(w, b0, b1, s);
                    blas.sgemmNT(batch, b1 - b0, k, xs, k, MemorySegment.ofArray(s), k, os.asSlice((long) b0 * Float.BYTES), n);
                }
            }
        });
        return true;
    }

    private static float[] scratch(int n) {
        float[][] h = SCRATCH.get();
        if (h[0].length < n) h[0] = new float[n];
        return h[0];
    }

    private static void dequantize(WeightMatrix w, int r0, int r1, float[] dst) {
        int k = w.cols();
        for (int r = r0; r < r1; r++) w.dequantizeRow(r, dst, (r - r0) * k);
    }

    /** The f32 copy of w, made now if the budget allows; null when it does not (dequantize per call). */
    private MemorySegment cached(WeightMatrix w) {
        if (cacheBudget <= 0) return null;
        long bytes = (long) w.rows() * w.cols() * Float.BYTES;
        synchronized (cache) {
            MemorySegment s = cache.get(w);
            if (s != null) return s;
            if (cachedBytes() + bytes > cacheBudget) return null;
            s = Arena.ofAuto().allocate(bytes, 64);
            MemorySegment dst = s;
            int k = w.cols();
            Parallel.forRange(w.rows(), 16, (from, to) -> {
                float[] row = new float[k];
                for (int r = from; r < to; r++) {
                    w.dequantizeRow(r, row, 0);
                    MemorySegment.copy(row, 0, dst, ValueLayout.JAVA_FLOAT, (long) r * k * Float.BYTES, k);
                }
            });
            cache.put(w, s);
            return s;
        }
    }
}
