package dev.starattn.tensor;

/**
 * A 2-D weight matrix of {@code rows x cols} (rows = output features), stored row-major in one
 * of the {@link GgmlType}s, usually memory-mapped straight from the model file.
 *
 * <p>Activations are plain heap float arrays laid out token-major: {@code x[t * cols + c]}.
 * Implementations dequantize on the fly (fused dequantize-and-dot) and use all cores.
 */
public interface WeightMatrix {
    int rows();

    int cols();

    GgmlType type();

    /**
     * {@code out[t * rows + r] = sum_c W[r][c] * x[t * cols + c]} for every token t in [0, batch).
     * Uses all cores of {@link dev.starattn.cpu.Parallel}.
     */
    void matmul(float[] x, float[] out, int batch);

    /** Writes row {@code row}, dequantized to f32, into {@code dst[offset .. offset + cols)}. */
    void dequantizeRow(int row, float[] dst, int offset);
}
