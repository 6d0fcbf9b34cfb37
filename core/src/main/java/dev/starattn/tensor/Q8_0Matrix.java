package dev.starattn.tensor;

import java.lang.foreign.MemorySegment;
import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Q8_0: blocks of 32 = f16 d, 32 int8 q; value = d * q. */
final class Q8_0Matrix extends AbstractWeightMatrix {
    Q8_0Matrix(MemorySegment seg, int rows, int cols) {
        super(GgmlType.Q8_0, seg, rows, cols);
    }

    @Override
    float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff) {
        long base = row * rowBytes;
        int nb = cols >> 5;
        FloatVector acc0 = FloatVector.zero(F), acc1 = acc0;
        for (int b = 0; b < nb; b++) {
            long o = base + 34L * b;
            float d = half(seg, o);
            int xo = xOff + (b << 5);
            FloatVector s = FloatVector.zero(F);
            for (int k = 0; k < 32; k += L) {
                s = bytesToFloat(loadBytes(seg, o + 2 + k)).fma(FloatVector.fromArray(F, x, xo + k), s);
            }
            if ((b & 1) == 0) acc0 = s.fma(FloatVector.broadcast(F, d), acc0); else acc1 = s.fma(FloatVector.broadcast(F, d), acc1);
        }
        return VectorOps.sum(acc0.add(acc1));
    }

    /** The quantized x when the native integer kernel runs, else the Java kernel's (null) aux. */
    @Override
    Object prepareVector(float[] x) {
        return NativeQ8.active() ? Int16Activation.of(x, 0, cols) : null;
    }

    @Override
    void rows(int r0, int r1, float[] x, Object prepared, float[] out, int outOff) {
        if (prepared instanceof Int16Activation a) {
            NativeQ8.matvec(seg, rowBytes, r0, r1, cols, a, out, outOff);
        } else {
            super.rows(r0, r1, x, prepared, out, outOff);
        }
    }

    @Override
    void dequantizeRowUnchecked(int row, float[] dst, int offset) {
        if (NativeQ8.DEQUANT != null) {
            NativeQ8.dequantize(seg, rowBytes, row, row + 1, cols, dst, offset);
            return;
        }
        long base = row * rowBytes;
        int nb = cols >> 5;
        for (int b = 0; b < nb; b++) {
            long o = base + 34L * b;
            float d = half(seg, o);
            for (int k = 0; k < 32; k += L) {
                bytesToFloat(loadBytes(seg, o + 2 + k)).mul(d).intoArray(dst, offset + (b << 5) + k);
            }
        }
    }
}
