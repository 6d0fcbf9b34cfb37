package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** bfloat16 rows (the upper 16 bits of an f32). */
final class BF16Matrix extends AbstractWeightMatrix {
    BF16Matrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.BF16, seg, rows, cols);
    }

    private FloatVector load(long off) {
        return bf16ToFloat(ShortVector.fromMemorySegment(S, seg, off, LE));
    }

    private float scalar(long off) {
        return Float.intBitsToFloat(seg.get(SHORT_LE, off) << 16);
    }

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + 2 * L <= cols; c += 2 * L) {
            long o = base + 2L * c;
            a0 = load(o).fma(FloatVector.fromArray(F, x, xOff + c), a0);
            a1 = load(o + 2L * L).fma(FloatVector.fromArray(F, x, xOff + c + L), a1);
        }
        for (; c + L <= cols; c += L) {
            a0 = load(base + 2L * c).fma(FloatVector.fromArray(F, x, xOff + c), a0);
        }
        float s = VectorOps.sum(a0.add(a1));
        for (; c < cols; c++) s += scalar(base + 2L * c) * x[xOff + c];
        return s;
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        long base = row * rowBytes;
        int c = 0;
        for (; c + L <= cols; c += L) load(base + 2L * c).intoArray(dst, offset + c);
        for (; c < cols; c++) dst[offset + c] = scalar(base + 2L * c);
    }
}
