package dev.starattn.blas;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.starattn.tensor.GemmBackends;
import dev.starattn.tensor.GgmlType;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;
import dev.starattn.testutil.ReferenceDequant;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * OpenBLAS's sgemm through FFM against a double-precision reference (weights dequantized by the
 * test tree's own {@link ReferenceDequant}), on every weight type and odd shapes, with the f32 copy
 * cached and dequantized per call; and its wiring into {@link WeightMatrix#matmul}.
 * This module's whole point is the native library, so on linux-x86_64 it must load: no skipping.
 */
class NativeGemmTest {
    static OpenBlas blas;

    @BeforeAll
    static void load() throws Exception {
        blas = OpenBlas.load();
    }

    @AfterAll
    static void restore() {
        GemmBackends.select("auto");
        GemmBackends.setMinBatch(GemmBackends.DEFAULT_MIN_BATCH);
    }

    record Case(WeightMatrix w, double[] ref, float[] x, int batch) {}

    static int[] colsFor(GgmlType t) {
        return switch (t.blockSize) {
            case 1 -> new int[] {1, 7, 33, 100};
            case 32 -> new int[] {32, 96, 160};
            default -> new int[] {256, 512};
        };
    }

    /** max over outputs of |got - ref| / (sum_c |w x| + 1e-30): f32 rounding is a few ulps of that sum. */
    static double relError(WeightMatrix w, float[] x, int batch, float[] got) {
        int rows = w.rows(), cols = w.cols();
        double[] wd = dequantizeDouble(w);
        double worst = 0;
        for (int t = 0; t < batch; t++) {
            for (int r = 0; r < rows; r++) {
                double s = 0, sa = 0;
                for (int c = 0; c < cols; c++) {
                    double p = wd[r * cols + c] * x[t * cols + c];
                    s += p;
                    sa += Math.abs(p);
                }
                worst = Math.max(worst, Math.abs(got[t * rows + r] - s) / (sa + 1e-30));
            }
        }
        return worst;
    }

    /** The matrix's GGML bytes dequantized by the test tree's reference, in double. */
    static double[] dequantizeDouble(WeightMatrix w) {
        return ReferenceDequant.dequantize(w.type(), BYTES.get(w), (long) w.rows() * w.cols());
    }

    private static final java.util.Map<WeightMatrix, byte[]> BYTES = new java.util.IdentityHashMap<>();

    /** A random matrix of {@code type} over a heap copy of its GGML bytes (kept for the reference). */
    static WeightMatrix matrix(GgmlType type, int rows, int cols, Random rnd) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
        byte[] bytes = Quantizers.quantize(type, v);
        WeightMatrix w = WeightMatrices.of(type, MemorySegment.ofArray(bytes).asReadOnly(), rows, cols);
        BYTES.put(w, bytes);
        return w;
    }

    static float[] randomX(int batch, int cols, Random rnd) {
        float[] x = new float[batch * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void matchesDoublePrecisionOnOddShapes(GgmlType type) {
        Random rnd = new Random(17 + type.ordinal());
        NativeGemm cached = new NativeGemm(blas, 1L << 30), perCall = new NativeGemm(blas, 0);
        NativeGemm smallBlocks = new NativeGemm(blas, 0, 1); // blocks of 64 rows: 130 rows over 1-2 threads take 2-3 blocks
        for (int rows : new int[] {1, 3, 17, 130}) {
            for (int cols : colsFor(type)) {
                WeightMatrix w = matrix(type, rows, cols, rnd);
                for (int batch : new int[] {2, 7, 65}) {
                    float[] x = randomX(batch, cols, rnd);
                    for (NativeGemm g : new NativeGemm[] {cached, perCall, smallBlocks}) {
                        // out longer than needed and full of NaN: beta = 0 must overwrite, nothing past batch*rows written
                        float[] out = new float[batch * rows + 3];
                        Arrays.fill(out, Float.NaN);
                        assertTrue(g.matmul(w, x, out, batch));
                        for (int i = batch * rows; i < out.length; i++) assertTrue(Float.isNaN(out[i]), "wrote past batch*rows");
                        double err = relError(w, x, batch, out);
                        String what = type + " " + rows + "x" + cols + " batch " + batch
                                + (g == cached ? " cached" : g == perCall ? " per call" : " per call, blocks of 64 rows");
                        assertTrue(err < 5e-6, what + ": relative error " + err);
                    }
                }
            }
        }
        assertTrue(cached.cachedBytes() > 0, "the cached backend kept f32 copies");
        assertEquals(0, perCall.cachedBytes());
    }

    @Test
    void cacheStaysWithinItsBudgetAndPerCallGivesTheSameResults() {
        Random rnd = new Random(3);
        WeightMatrix a = matrix(GgmlType.Q8_0, 96, 128, rnd), b = matrix(GgmlType.Q8_0, 64, 128, rnd);
        long oneMatrix = 96L * 128 * Float.BYTES;
        NativeGemm g = new NativeGemm(blas, oneMatrix), none = new NativeGemm(blas, 0);
        float[] x = randomX(70, 128, rnd);
        float[] outA = new float[70 * 96], outB = new float[70 * 64], refA = new float[70 * 96], refB = new float[70 * 64];
        g.matmul(a, x, outA, 70);
        assertEquals(oneMatrix, g.cachedBytes());
        g.matmul(b, x, outB, 70); // over budget: dequantized per call
        assertEquals(oneMatrix, g.cachedBytes());
        none.matmul(a, x, refA, 70);
        none.matmul(b, x, refB, 70);
        assertArrayEquals(refA, outA, 1e-4f);
        assertArrayEquals(refB, outB, 1e-4f);
    }

    @Test
    void sameBitsRunAfterRunAndFromConcurrentCallers() throws Exception {
        Random rnd = new Random(9);
        WeightMatrix w = matrix(GgmlType.Q8_0, 300, 256, rnd);
        float[] x = randomX(200, 256, rnd);
        for (NativeGemm g : new NativeGemm[] {new NativeGemm(blas, 1L << 30), new NativeGemm(blas, 0)}) {
            float[] first = new float[200 * 300];
            g.matmul(w, x, first, 200);
            ExecutorService ex = Executors.newFixedThreadPool(3);
            try {
                Future<?>[] f = new Future<?>[6];
                for (int i = 0; i < f.length; i++) {
                    f[i] = ex.submit(() -> {
                        float[] again = new float[200 * 300];
                        g.matmul(w, x, again, 200);
                        if (!Arrays.equals(first, again)) fail("different bits on a repeated call: " + g.describe());
                        return null;
                    });
                }
                for (Future<?> fu : f) fu.get();
            } finally {
                ex.shutdown();
            }
        }
    }

    @Test
    void weightMatrixMatmulGoesNativeForBigBatchesWhenSelected() {
        String d = GemmBackends.select("native");
        assertTrue(d.startsWith("native: OpenBLAS"), d);
        assertTrue(GemmBackends.nativeActive());
        GemmBackends.setMinBatch(32);
        Random rnd = new Random(4);
        WeightMatrix w = matrix(GgmlType.Q4_K, 100, 512, rnd);
        float[] x = randomX(40, 512, rnd);
        float[] viaMatmul = new float[40 * 100], direct = new float[40 * 100], java = new float[40 * 100];
        w.matmul(x, viaMatmul, 40);
        new NativeGemm(blas, 0).matmul(w, x, direct, 40);
        assertArrayEquals(direct, viaMatmul, "matmul ran OpenBLAS (the same bits as calling it directly)");
        GemmBackends.select("java");
        assertFalse(GemmBackends.nativeActive());
        w.matmul(x, java, 40);
        assertArrayEquals(java, viaMatmul, 1e-3f);
        assertNotEquals(Arrays.hashCode(java), Arrays.hashCode(viaMatmul),
                "the Java kernel sums in another order, so some bits differ (else this test could not tell them apart)");
    }

    @Test
    void aLibraryThatCannotBeCopiedFallsBackToJavaWithOneLine(@TempDir Path tmp) throws Exception {
        Path notADir = Files.writeString(tmp.resolve("file"), "x");
        String old = System.getProperty("starattn.native.dir");
        System.setProperty("starattn.native.dir", notADir.toString());
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream saved = System.err;
        try {
            Exception e = assertThrows(Exception.class, () -> new NativeGemmProvider().open());
            assertTrue(e.getMessage().contains("cannot copy libopenblas"), e.getMessage());
            System.setErr(new java.io.PrintStream(err, true));
            String d = GemmBackends.select("native");
            assertTrue(d.startsWith("java"), d);
            assertFalse(GemmBackends.nativeActive());
        } finally {
            System.setErr(saved);
            if (old == null) System.clearProperty("starattn.native.dir");
            else System.setProperty("starattn.native.dir", old);
        }
        String[] lines = err.toString().strip().split("\n");
        assertEquals(1, lines.length, err.toString());
        assertTrue(lines[0].contains("could not be loaded") && lines[0].contains("Java kernel"), lines[0]);
        assertTrue(GemmBackends.select("native").startsWith("native"), "loads again once the folder is usable");
    }

    @Test
    void cacheSizes() {
        assertEquals(2L << 30, NativeGemm.parseBytes("2g"));
        assertEquals(512L << 20, NativeGemm.parseBytes("512M"));
        assertEquals(0, NativeGemm.parseBytes("0"));
        assertEquals(4096, NativeGemm.parseBytes("4k"));
        assertThrows(IllegalArgumentException.class, () -> NativeGemm.parseBytes("lots"));
        assertThrows(IllegalArgumentException.class, () -> NativeGemm.parseBytes("-1g"));
    }
}
