package dev.starattn.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.format.TensorRef;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class WeightMatrixKernelTest {

    static int[] colsFor(GgmlType t) {
        return switch (t.blockSize) {
            case 1 -> new int[] {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257};
            case 32 -> new int[] {32, 64, 96, 128, 160, 288};
            default -> new int[] {256, 512, 768};
        };
    }

    private static MemorySegment nativeCopy(Arena arena, byte[] bytes) {
        MemorySegment s = arena.allocate(bytes.length, 64);
        MemorySegment.copy(bytes, 0, s, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return s.asReadOnly();
    }

    private static void check(GgmlType type, int rows, int cols, int[] batches, Random rnd, boolean heap) {
        byte[] bytes = KernelTestBlocks.randomMatrix(type, rows, cols, rnd);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = heap ? MemorySegment.ofArray(bytes).asReadOnly() : nativeCopy(arena, bytes);
            WeightMatrix w = WeightMatrices.of(type, seg, rows, cols);
            assertEquals(rows, w.rows());
            assertEquals(cols, w.cols());
            assertEquals(type, w.type());
            double[][] ref = new double[rows][];
            for (int r = 0; r < rows; r++) {
                ref[r] = KernelTestBlocks.refRow(type, bytes, r, cols);
                float[] got = new float[cols + 3];
                w.dequantizeRow(r, got, 3);
                for (int c = 0; c < cols; c++) {
                    double tol = 1e-6 * Math.abs(ref[r][c]) + 1e-12;
                    if (type == GgmlType.Q4_K) tol += 1e-6 * Math.abs(ref[r][c]) + 1e-9; // d*sc*q - dmin*m cancellation
                    assertEquals(ref[r][c], got[c + 3], tol, () -> type + " dequantize mismatch");
                }
            }
            for (int batch : batches) {
                float[] x = new float[batch * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                float[] out = new float[batch * rows + 5];
                out[batch * rows] = 42f;
                w.matmul(x, out, batch);
                assertEquals(42f, out[batch * rows], "matmul wrote past batch*rows");
                for (int t = 0; t < batch; t++) {
                    for (int r = 0; r < rows; r++) {
                        double s = 0, sa = 0;
                        for (int c = 0; c < cols; c++) {
                            double p = ref[r][c] * x[t * cols + c];
                            s += p;
                            sa += Math.abs(p);
                        }
                        double tol = 3e-6 * sa + 1e-30;
                        // The native decode kernel quantizes x to int16 per block of 32: 1/65534 of the block maximum.
                        if (type == GgmlType.Q8_0 && batch == 1 && NativeQ8.active()) tol += 3e-5 * sumAbsRow(ref[r], x, t * cols, cols);
                        float g = out[t * rows + r];
                        if (Math.abs(g - s) > tol) {
                            throw new AssertionError(type + " " + rows + "x" + cols + " batch " + batch + " t=" + t + " r=" + r
                                    + ": got " + g + " want " + s + " (tol " + tol + ")");
                        }
                    }
                }
            }
        }
    }

    /** sum_c |W[r][c]| * (max |x| of c's block of 32): the scale of the int16 activation's rounding error. */
    private static double sumAbsRow(double[] w, float[] x, int off, int cols) {
        double s = 0;
        for (int b = 0; b < cols; b += 32) {
            double m = 0;
            for (int c = b; c < b + 32; c++) m = Math.max(m, Math.abs(x[off + c]));
            for (int c = b; c < b + 32; c++) s += Math.abs(w[c]) * m;
        }
        return s;
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void matchesDoubleReference(GgmlType type) {
        Random rnd = new Random(1234 + type.ordinal());
        int[] batches = {1, 2, 3, 4, 5, 17, 64};
        for (int cols : colsFor(type)) {
            for (int rows : new int[] {1, 3, 4, 17, 33}) {
                check(type, rows, cols, batches, rnd, false);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void largeMatrixUsesAllThreadsAndHeapSegments(GgmlType type) {
        Random rnd = new Random(99 + type.ordinal());
        int cols = type.blockSize == 1 ? 520 : 512;
        check(type, 1100, cols, new int[] {1, 70}, rnd, false);
        check(type, 37, cols, new int[] {1, 9}, rnd, true);
    }

    @Test
    void q4kHandBuiltBlock() {
        // One block: d = 1, dmin = 0.5; scales packed so that sub-block j has scale j+1 (6 bits,
        // j >= 4 needs the high bits) and min 2j; all nibbles: low = 3, high = 5.
        byte[] b = new byte[144];
        putHalf(b, 0, 1f);
        putHalf(b, 2, 0.5f);
        int[] sc = {1, 2, 3, 4, 37, 50, 63, 17};
        int[] mn = {0, 2, 4, 6, 40, 61, 33, 18};
        for (int j = 0; j < 4; j++) {
            b[4 + j] = (byte) ((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            b[4 + j + 4] = (byte) ((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
            b[4 + j + 8] = (byte) ((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
        for (int i = 0; i < 128; i++) b[16 + i] = (byte) 0x53;
        WeightMatrix w = WeightMatrices.of(GgmlType.Q4_K, MemorySegment.ofArray(b), 1, 256);
        float[] y = new float[256];
        w.dequantizeRow(0, y, 0);
        for (int j = 0; j < 8; j++) {
            int q = j % 2 == 0 ? 3 : 5;
            float want = sc[j] * q - 0.5f * mn[j];
            for (int l = 0; l < 32; l++) assertEquals(want, y[32 * j + l], 0f, "sub-block " + j);
        }
    }

    @Test
    void q6kHandBuiltBlock() {
        byte[] b = new byte[210];
        // ql: low nibble 0x1, high nibble 0x2 for l < 32; low 0x3, high 0x4 for l in [32, 64) (first half)
        for (int l = 0; l < 32; l++) { b[l] = 0x21; b[32 + l] = 0x43; }
        // qh bits: 0-1 = 1, 2-3 = 2, 4-5 = 3, 6-7 = 0
        for (int l = 0; l < 32; l++) b[128 + l] = (byte) (1 | 2 << 2 | 3 << 4);
        for (int i = 0; i < 16; i++) b[192 + i] = (byte) (i - 5);
        putHalf(b, 208, 0.25f);
        WeightMatrix w = WeightMatrices.of(GgmlType.Q6_K, MemorySegment.ofArray(b), 1, 256);
        float[] y = new float[256];
        w.dequantizeRow(0, y, 0);
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            assertEquals(0.25f * (is - 5) * ((1 | 1 << 4) - 32), y[l], 0f);
            assertEquals(0.25f * (is + 2 - 5) * ((3 | 2 << 4) - 32), y[l + 32], 0f);
            assertEquals(0.25f * (is + 4 - 5) * ((2 | 3 << 4) - 32), y[l + 64], 0f);
            assertEquals(0.25f * (is + 6 - 5) * (4 - 32), y[l + 96], 0f);
            // second half: all-zero ql/qh -> q = -32
            assertEquals(0.25f * (is + 8 - 5) * -32, y[128 + l], 0f);
        }
    }

    @Test
    void f16SpecialValues() {
        short[] hs = {0x0000, (short) 0x8000, 0x0001, (short) 0x83FF, 0x3C00, 0x7BFF, 0x7C00, (short) 0xFC00, 0x7E00,
            0x0400, 0x03FF, 0x3555, (short) 0xC000, 0x1234, 0x5678, 0x6789, 0x0200};
        byte[] b = new byte[hs.length * 2];
        for (int i = 0; i < hs.length; i++) { b[2 * i] = (byte) hs[i]; b[2 * i + 1] = (byte) (hs[i] >> 8); }
        WeightMatrix w = WeightMatrices.of(GgmlType.F16, MemorySegment.ofArray(b), 1, hs.length);
        float[] y = new float[hs.length];
        w.dequantizeRow(0, y, 0);
        for (int i = 0; i < hs.length; i++) {
            float want = Float.float16ToFloat(hs[i]);
            assertTrue(Float.floatToIntBits(want) == Float.floatToIntBits(y[i]) || (Float.isNaN(want) && Float.isNaN(y[i])),
                    "half " + Integer.toHexString(hs[i] & 0xFFFF) + ": want " + want + " got " + y[i]);
        }
    }

    private static void putHalf(byte[] b, int off, float v) {
        short h = Float.floatToFloat16(v);
        b[off] = (byte) h;
        b[off + 1] = (byte) (h >> 8);
    }

    @Test
    void factoryValidates() {
        MemorySegment s = MemorySegment.ofArray(new byte[34 * 2]);
        assertEquals(GgmlType.Q8_0, WeightMatrices.of(GgmlType.Q8_0, s, 2, 32).type());
        var e = assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(GgmlType.Q8_0, s, 1, 64 + 32));
        assertTrue(e.getMessage().contains("bytes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(GgmlType.Q8_0, s, 4, 17));
        assertTrue(e.getMessage().contains("multiple of 32"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(GgmlType.Q4_K, MemorySegment.ofArray(new byte[144]), 2, 128));
        assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(GgmlType.F32, s, 0, 4));
        assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(GgmlType.F32, s, 2, 9));
        TensorRef ok = new TensorRef("w", GgmlType.F16, new long[] {17, 2}, MemorySegment.ofArray(new byte[68]));
        WeightMatrix w = WeightMatrices.of(ok);
        assertEquals(2, w.rows());
        assertEquals(17, w.cols());
        TensorRef bad = new TensorRef("blk.0.attn_q.weight", GgmlType.F16, new long[] {17, 2}, MemorySegment.ofArray(new byte[67]));
        e = assertThrows(IllegalArgumentException.class, () -> WeightMatrices.of(bad));
        assertTrue(e.getMessage().contains("blk.0.attn_q.weight"), e.getMessage());
        WeightMatrix m = WeightMatrices.of(GgmlType.F32, MemorySegment.ofArray(new byte[4 * 8]), 2, 4);
        assertThrows(IllegalArgumentException.class, () -> m.matmul(new float[7], new float[2], 2));
        assertThrows(IllegalArgumentException.class, () -> m.matmul(new float[8], new float[3], 2));
        assertThrows(IndexOutOfBoundsException.class, () -> m.dequantizeRow(2, new float[4], 0));
        assertThrows(IndexOutOfBoundsException.class, () -> m.dequantizeRow(0, new float[4], 1));
    }
}
