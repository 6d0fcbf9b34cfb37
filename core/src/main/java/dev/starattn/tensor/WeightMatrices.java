package dev.starattn.tensor;

import dev.starattn.format.TensorRef;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** PLACEHOLDER (replaced by the kernels branch): naive F32/F16 weights. */
public final class WeightMatrices {
    private WeightMatrices() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort H = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    public static WeightMatrix of(TensorRef t) {
        return of(t.type(), t.data(), t.rows(), t.cols());
    }

    public static WeightMatrix of(GgmlType type, MemorySegment data, int rows, int cols) {
        if (type != GgmlType.F32 && type != GgmlType.F16) throw new IllegalArgumentException("placeholder supports F32/F16 only");
        return new WeightMatrix() {
            public int rows() { return rows; }
            public int cols() { return cols; }
            public GgmlType type() { return type; }
            public void dequantizeRow(int row, float[] dst, int off) {
                for (int c = 0; c < cols; c++) {
                    long i = (long) row * cols + c;
                    dst[off + c] = type == GgmlType.F32 ? data.getAtIndex(F, i) : Float.float16ToFloat(data.getAtIndex(H, i));
                }
            }
            public void matmul(float[] x, float[] out, int batch) {
                dev.starattn.cpu.Parallel.forRange(rows, 8, (from, to) -> {
                    float[] w = new float[cols];
                    for (int r = from; r < to; r++) {
                        dequantizeRow(r, w, 0);
                        for (int b = 0; b < batch; b++) {
                            float s = 0;
                            for (int c = 0; c < cols; c++) s += w[c] * x[b * cols + c];
                            out[b * rows + r] = s;
                        }
                    }
                });
            }
        };
    }
}
