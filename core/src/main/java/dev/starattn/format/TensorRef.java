package dev.starattn.format;

import dev.starattn.tensor.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * One tensor of a model file, located but not copied: {@code data} is a slice of the mapped file.
 * Shape is given GGUF-style, fastest dimension first: {@code dims[0]} is the row length
 * (columns), {@code dims[1]} the number of rows of a matrix.
 */
public record TensorRef(String name, GgmlType type, long[] dims, MemorySegment data) {
    public long elements() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    public int cols() {
        return Math.toIntExact(dims[0]);
    }

    public int rows() {
        long r = 1;
        for (int i = 1; i < dims.length; i++) r *= dims[i];
        return Math.toIntExact(r);
    }
}
