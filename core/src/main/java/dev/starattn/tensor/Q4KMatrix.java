package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_K: super-blocks of 256 = f16 d, f16 dmin, 12 bytes of packed 6-bit (scale, min) for 8
 * sub-blocks of 32, 128 bytes of nibbles. Each 64-element chunk j uses 32 bytes: low nibbles are
 * sub-block 2j, high nibbles sub-block 2j+1; value = d * sc * q - dmin * m.
 */
final class Q4KMatrix extends AbstractWeightMatrix {
    Q4KMatrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.Q4_K, seg, rows, cols);
    }

    /** Unpacks the 8 scales (sm[0..8)) and mins (sm[8..16)) of the block at {@code o}. */
    private void scalesAndMins(long o, int[] sm) {
        int s0 = seg.get(INT_LE, o + 4), s1 = seg.get(INT_LE, o + 8), s2 = seg.get(INT_LE, o + 12);
        for (int j = 0; j < 4; j++) {
            int q0 = (s0 >>> (8 * j)) & 0xFF; // scales[j]
            int q4 = (s1 >>> (8 * j)) & 0xFF; // scales[j + 4]
            int q8 = (s2 >>> (8 * j)) & 0xFF; // scales[j + 8]
            sm[j] = q0 & 63;
            sm[8 + j] = q4 & 63;
            sm[j + 4] = (q8 & 0xF) | ((q0 >>> 6) << 4);
            sm[8 + j + 4] = (q8 >>> 4) | ((q4 >>> 6) << 4);
        }
    }

    @Override
    float[] prepare(float[] x, int batch) {
        int n = cols >> 5;
        float[] sums = new float[batch * n];
        for (int t = 0; t < batch; t++) {
            for (int i = 0; i < n; i++) {
                int xo = t * cols + (i << 5);
                FloatVector s = FloatVector.zero(F);
                for (int k = 0; k < 32; k += L) s = s.add(FloatVector.fromArray(F, x, xo + k));
                sums[t * n + i] = VectorOps.sum(s);
            }
        }
        return sums;
    }

    @Override
    int auxStride() {
        return cols >> 5;
    }

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        int nb = cols >> 8;
        int[] sm = new int[16];
        FloatVector acc = FloatVector.zero(F);
        float minTerm = 0;
        for (int b = 0; b < nb; b++) {
            long o = base + 144L * b;
            float d = half(seg, o), dmin = half(seg, o + 2);
            scalesAndMins(o, sm);
            int xb = xOff + (b << 8);
            int ab = auxOff + (b << 3);
            float mt = 0;
            for (int j = 0; j < 4; j++) {
                FloatVector s1 = FloatVector.zero(F), s2 = s1;
                long qo = o + 16 + 32L * j;
                int xo = xb + 64 * j;
                for (int k = 0; k < 32; k += L) {
                    ByteVector q = loadBytes(seg, qo + k);
                    s1 = bytesToFloat(q.and((byte) 0xF)).fma(FloatVector.fromArray(F, x, xo + k), s1);
                    s2 = bytesToFloat(q.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.fromArray(F, x, xo + 32 + k), s2);
                }
                acc = s1.fma(FloatVector.broadcast(F, d * sm[2 * j]), acc);
                acc = s2.fma(FloatVector.broadcast(F, d * sm[2 * j + 1]), acc);
                mt += sm[8 + 2 * j] * aux[ab + 2 * j] + sm[8 + 2 * j + 1] * aux[ab + 2 * j + 1];
            }
            minTerm += dmin * mt;
        }
        return VectorOps.sum(acc) - minTerm;
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        long base = row * rowBytes;
        int nb = cols >> 8;
        int[] sm = new int[16];
        for (int b = 0; b < nb; b++) {
            long o = base + 144L * b;
            float d = half(seg, o), dmin = half(seg, o + 2);
            scalesAndMins(o, sm);
            int yb = offset + (b << 8);
            for (int j = 0; j < 4; j++) {
                float d1 = d * sm[2 * j], m1 = dmin * sm[8 + 2 * j];
                float d2 = d * sm[2 * j + 1], m2 = dmin * sm[8 + 2 * j + 1];
                FloatVector vm1 = FloatVector.broadcast(F, -m1), vm2 = FloatVector.broadcast(F, -m2);
                long qo = o + 16 + 32L * j;
                int yo = yb + 64 * j;
                for (int k = 0; k < 32; k += L) {
                    ByteVector q = loadBytes(seg, qo + k);
                    bytesToFloat(q.and((byte) 0xF)).fma(FloatVector.broadcast(F, d1), vm1).intoArray(dst, yo + k);
                    bytesToFloat(q.lanewise(VectorOperators.LSHR, 4)).fma(FloatVector.broadcast(F, d2), vm2).intoArray(dst, yo + 32 + k);
                }
            }
        }
    }
}
