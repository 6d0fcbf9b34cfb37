package dev.starattn.tensor;

import dev.starattn.format.TensorRef;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/** Creates {@link WeightMatrix} views over mapped tensor data, without copying the weights. */
public final class WeightMatrices {
    private WeightMatrices() {}

    /** A matrix over a 2-D tensor (or a higher-rank tensor viewed as rows x dims[0]). */
    public static WeightMatrix of(TensorRef t) {
        Objects.requireNonNull(t, "tensor");
        if (t.dims() == null || t.dims().length < 1) {
            throw new IllegalArgumentException("tensor " + t.name() + " has no dimensions");
        }
        for (long d : t.dims()) {
            if (d <= 0 || d > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("tensor " + t.name() + " has a bad dimension " + d);
            }
        }
        long rows = t.elements() / t.dims()[0];
        if (rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor " + t.name() + " has too many rows: " + rows);
        }
        try {
            return of(t.type(), t.data(), (int) rows, t.cols());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor " + t.name() + ": " + e.getMessage(), e);
        }
    }

    /**
     * A matrix of {@code rows x cols} elements of {@code type} stored row-major in {@code data},
     * which must hold exactly {@code type.byteSize(rows * cols)} bytes.
     */
    public static WeightMatrix of(GgmlType type, MemorySegment data, int rows, int cols) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("matrix shape must be positive, got " + rows + " x " + cols);
        }
        if (cols % type.blockSize != 0) {
            throw new IllegalArgumentException(type + " rows must have a multiple of " + type.blockSize
                    + " columns, got " + cols);
        }
        long expected = type.byteSize((long) rows * cols);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException(type + " matrix " + rows + " x " + cols + " needs " + expected
                    + " bytes, the data has " + data.byteSize());
        }
        return switch (type) {
            case F32 -> new F32Matrix(data, rows, cols);
            case F16 -> new F16Matrix(data, rows, cols);
            case BF16 -> new BF16Matrix(data, rows, cols);
            case Q8_0 -> new Q8_0Matrix(data, rows, cols);
            case Q4_0 -> new Q4_0Matrix(data, rows, cols);
            case Q4_K -> new Q4KMatrix(data, rows, cols);
            case Q6_K -> new Q6KMatrix(data, rows, cols);
        };
    }
}
