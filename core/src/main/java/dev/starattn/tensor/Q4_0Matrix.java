package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Q4_0: blocks of 32 = f16 d, 16 bytes; element j = ((b[j] & 15) - 8) d, j + 16 = ((b[j] >> 4) - 8) d. */
final class Q4_0Matrix extends AbstractWeightMatrix {
    Q4_0Matrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.Q4_0, seg, rows, cols);
    }

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        int nb = cols >> 5;
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + 18L * b;
            float d = half(seg, o);
            int xo = xOff + (b << 5);
            FloatVector s = FloatVector.zero(F);
            for (int k = 0; k < 16; k += L) {
                ByteVector q = loadBytes(seg, o + 2 + k);
                FloatVector lo = bytesToFloat(q.and((byte) 0xF).sub((byte) 8));
                FloatVector hi = bytesToFloat(q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8));
                s = lo.fma(FloatVector.fromArray(F, x, xo + k), s);
                s = hi.fma(FloatVector.fromArray(F, x, xo + 16 + k), s);
            }
            if ((b & 1) == 0) acc0 = s.fma(FloatVector.broadcast(F, d), acc0); else acc1 = s.fma(FloatVector.broadcast(F, d), acc1);
        }
        return VectorOps.sum(acc0.add(acc1));
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        long base = row * rowBytes;
        int nb = cols >> 5;
        for (int b = 0; b < nb; b++) {
            long o = base + 18L * b;
            float d = half(seg, o);
            int yo = offset + (b << 5);
            for (int k = 0; k < 16; k += L) {
                ByteVector q = loadBytes(seg, o + 2 + k);
                bytesToFloat(q.and((byte) 0xF).sub((byte) 8)).mul(d).intoArray(dst, yo + k);
                bytesToFloat(q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8)).mul(d).intoArray(dst, yo + 16 + k);
            }
        }
    }
}
