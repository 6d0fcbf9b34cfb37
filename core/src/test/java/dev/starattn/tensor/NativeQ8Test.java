package dev.starattn.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The native Q8_0 decode kernel against a double reference of the same integer formula (weights
 * times the int16-quantized activation), and the quantization of the activation itself. Runs where
 * the build compiled the kernel (gcc present); elsewhere the Java kernel is the only one.
 */
class NativeQ8Test {

    /** sum over blocks of wd * xd * (int) sum_i wq_i * xq_i, in double, and the sum of |terms| (the tolerance's scale). */
    private static double[] reference(byte[] w, int row, int cols, Int16Activation a) {
        int rowBytes = (int) GgmlType.Q8_0.byteSize(cols);
        double s = 0, sa = 0;
        for (int b = 0; b < cols / 32; b++) {
            int o = row * rowBytes + 34 * b;
            float wd = Float.float16ToFloat((short) ((w[o] & 0xFF) | (w[o + 1] & 0xFF) << 8));
            long dot = 0, adot = 0;
            for (int i = 0; i < 32; i++) {
                dot += (long) w[o + 2 + i] * a.q[32 * b + i];
                adot += Math.abs((long) w[o + 2 + i] * a.q[32 * b + i]);
            }
            s += (double) wd * a.d[b] * dot;
            sa += Math.abs((double) wd * a.d[b]) * adot;
        }
        return new double[] {s, sa};
    }

    @Test
    void matchesTheIntegerFormulaOnEveryRowRange() {
        assumeTrue(NativeQ8.select("native").startsWith("native"), "no native kernel in this build");
        Random rnd = new Random(7);
        for (int cols : new int[] {32, 64, 96, 768, 2048}) {
            for (int rows : new int[] {1, 2, 3, 17, 64}) {
                byte[] w = KernelTestBlocks.randomMatrix(GgmlType.Q8_0, rows, cols, rnd);
                float[] x = new float[cols];
                for (int i = 0; i < cols; i++) x[i] = (float) (rnd.nextGaussian() * (i % 7 == 0 ? 10 : 1));
                Int16Activation a = Int16Activation.of(x, 0, cols);
                long rowBytes = GgmlType.Q8_0.byteSize(cols);
                MemorySegment seg = MemorySegment.ofArray(w);
                // Every row range, written at an offset: the odd-row tail and the two-row body both run.
                for (int r0 = 0; r0 < rows; r0 += Math.max(1, rows / 3)) {
                    for (int r1 = r0 + 1; r1 <= rows; r1 += Math.max(1, rows / 4)) {
                        float[] out = new float[r1 - r0 + 2];
                        out[r1 - r0 + 1] = 42f;
                        NativeQ8.matvec(seg, rowBytes, r0, r1, cols, a, out, 1);
                        assertEquals(42f, out[r1 - r0 + 1], "wrote past the range");
                        for (int r = r0; r < r1; r++) {
                            double[] ref = reference(w, r, cols, a);
                            assertEquals(ref[0], out[1 + r - r0], 2e-6 * ref[1] + 1e-30, cols + " cols, row " + r);
                        }
                    }
                }
            }
        }
    }

    @Test
    void quantizesToInt16Blocks() {
        float[] x = new float[64];
        for (int i = 0; i < 32; i++) x[i] = (i - 16) * 0.5f;   // max |x| = 8
        x[40] = -3f;                                        // second block: one value, the rest 0
        Int16Activation a = Int16Activation.of(x, 0, 64);
        assertEquals(8f / 32767f, a.d[0], 0f);
        assertEquals(-32767, a.q[0]);                        // -8 -> -32767
        assertEquals((short) Math.rint(0.5f * (32767f / 8f)), a.q[17]);
        assertEquals(-32767, a.q[40]);
        assertEquals(0, a.q[41]);
        for (int i = 0; i < 32; i++) assertEquals(x[i], a.q[i] * a.d[0], 8f / 65534f * 1.001f, "element " + i);
        Int16Activation z = Int16Activation.of(new float[32], 0, 32);
        assertEquals(0f, z.d[0]);
        assertEquals(0, z.q[5]);
    }

    @Test
    void dequantizationGivesTheJavaKernelsBits() {
        assumeTrue(NativeQ8.DEQUANT != null, "no native kernel in this build");
        Random rnd = new Random(11);
        int rows = 5, cols = 768;
        byte[] w = KernelTestBlocks.randomMatrix(GgmlType.Q8_0, rows, cols, rnd);
        Q8_0Matrix m = new Q8_0Matrix(MemorySegment.ofArray(w), rows, cols);
        int rowBytes = (int) GgmlType.Q8_0.byteSize(cols);
        for (int r = 0; r < rows; r++) {
            float[] got = new float[cols + 3];
            got[cols + 2] = 42f;
            m.dequantizeRow(r, got, 2);
            assertEquals(42f, got[cols + 2], "wrote past the row");
            for (int b = 0; b < cols / 32; b++) {
                int o = r * rowBytes + 34 * b;
                float d = Float.float16ToFloat((short) ((w[o] & 0xFF) | (w[o + 1] & 0xFF) << 8));
                for (int i = 0; i < 32; i++) {
                    assertEquals(Float.floatToRawIntBits(w[o + 2 + i] * d), Float.floatToRawIntBits(got[2 + 32 * b + i]), "row " + r + " col " + (32 * b + i));
                }
            }
        }
    }
}
