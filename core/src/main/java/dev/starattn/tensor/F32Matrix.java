package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Plain little-endian f32 rows. */
final class F32Matrix extends AbstractWeightMatrix {
    F32Matrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.F32, seg, rows, cols);
    }

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (; c + 4 * L <= cols; c += 4 * L) {
            long o = base + 4L * c;
            a0 = FloatVector.fromMemorySegment(F, seg, o, LE).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = FloatVector.fromMemorySegment(F, seg, o + 4L * L, LE).fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
            a2 = FloatVector.fromMemorySegment(F, seg, o + 8L * L, LE).fma(FloatVector.fromArray(F, x, xOff + c + 2 * L), a2);
            a3 = FloatVector.fromMemorySegment(F, seg, o + 12L * L, LE).fma(FloatVector.fromArray(F, x, xOff + c + 3 * L), a3);
        }
        for (; c + L <= cols; c += L) {
            a0 = FloatVector.fromMemorySegment(F, seg, base + 4L * c, LE).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float s = VectorOps.sum(a0.add(a1).add(a2.add(a3)));
        for (; c < cols; c++) s += seg.get(FLOAT_LE, base + 4L * c) * x[xOff + c];
        return s;
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        MemorySegment.copy(seg, FLOAT_LE, row * rowBytes, dst, offset, cols);
    }
}
