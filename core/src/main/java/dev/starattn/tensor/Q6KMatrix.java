package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q6_K: super-blocks of 256 = ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (one
 * per 16 elements), f16 d. Each half of 128 elements uses ql[64], qh[32], scales[8]; for l < 32,
 * element l takes the low nibble of ql[l] and bits 0-1 of qh[l], l+32 the low nibble of ql[l+32]
 * and bits 2-3, l+64 the high nibble of ql[l] and bits 4-5, l+96 the high nibble of ql[l+32] and
 * bits 6-7; value = d * scale[l/16 + 2i] * (q - 32) for the i-th of those four.
 */
final class Q6KMatrix extends AbstractWeightMatrix {
    Q6KMatrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.Q6_K, seg, rows, cols);
    }

    private static final byte M4 = 0xF, M3 = 3, B32 = 32;

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        int nb = cols >> 8;
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + 210L * b;
            float d = half(seg, o + 208);
            for (int h = 0; h < 2; h++) {
                long ql = o + 64L * h, qh = o + 128 + 32L * h, sc = o + 192 + 8L * h;
                int xo = xOff + (b << 8) + 128 * h;
                for (int l = 0; l < 32; l += L) {
                    int is = l >> 4;
                    ByteVector a = loadBytes(seg, ql + l), c = loadBytes(seg, ql + 32 + l), q = loadBytes(seg, qh + l);
                    FloatVector q1 = bytesToFloat(a.and(M4).or(q.and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q2 = bytesToFloat(c.and(M4).or(q.lanewise(VectorOperators.LSHR, 2).and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q3 = bytesToFloat(a.lanewise(VectorOperators.LSHR, 4).or(q.lanewise(VectorOperators.LSHR, 4).and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q4 = bytesToFloat(c.lanewise(VectorOperators.LSHR, 4).or(q.lanewise(VectorOperators.LSHR, 6).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    float s1 = d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is);
                    float s2 = d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 2);
                    float s3 = d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 4);
                    float s4 = d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 6);
                    acc0 = q1.mul(s1).fma(FloatVector.fromArray(F, x, xo + l), acc0);
                    acc1 = q2.mul(s2).fma(FloatVector.fromArray(F, x, xo + 32 + l), acc1);
                    acc0 = q3.mul(s3).fma(FloatVector.fromArray(F, x, xo + 64 + l), acc0);
                    acc1 = q4.mul(s4).fma(FloatVector.fromArray(F, x, xo + 96 + l), acc1);
                }
            }
        }
        return VectorOps.sum(acc0.add(acc1));
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        long base = row * rowBytes;
        int nb = cols >> 8;
        for (int b = 0; b < nb; b++) {
            long o = base + 210L * b;
            float d = half(seg, o + 208);
            for (int h = 0; h < 2; h++) {
                long ql = o + 64L * h, qh = o + 128 + 32L * h, sc = o + 192 + 8L * h;
                int yo = offset + (b << 8) + 128 * h;
                for (int l = 0; l < 32; l += L) {
                    int is = l >> 4;
                    ByteVector a = loadBytes(seg, ql + l), c = loadBytes(seg, ql + 32 + l), q = loadBytes(seg, qh + l);
                    FloatVector q1 = bytesToFloat(a.and(M4).or(q.and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q2 = bytesToFloat(c.and(M4).or(q.lanewise(VectorOperators.LSHR, 2).and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q3 = bytesToFloat(a.lanewise(VectorOperators.LSHR, 4).or(q.lanewise(VectorOperators.LSHR, 4).and(M3).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    FloatVector q4 = bytesToFloat(c.lanewise(VectorOperators.LSHR, 4).or(q.lanewise(VectorOperators.LSHR, 6).lanewise(VectorOperators.LSHL, 4)).sub(B32));
                    q1.mul(d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is)).intoArray(dst, yo + l);
                    q2.mul(d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 2)).intoArray(dst, yo + 32 + l);
                    q3.mul(d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 4)).intoArray(dst, yo + 64 + l);
                    q4.mul(d * seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, sc + is + 6)).intoArray(dst, yo + 96 + l);
                }
            }
        }
    }
}
