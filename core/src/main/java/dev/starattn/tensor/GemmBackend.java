package dev.starattn.tensor;

/**
 * A matrix-product engine that can take over the batched (prefill) path of {@link WeightMatrix#matmul}
 * from the Java kernel ({@link Gemm}), e.g. a native BLAS. Core ships none: an implementation is
 * found through {@link java.util.ServiceLoader} as a {@link Provider} (module {@code blas}: OpenBLAS
 * through FFM) and chosen by {@link GemmBackends}. The Java kernel stays the fallback.
 */
public interface GemmBackend {
    /** One line for logs and benchmark output: library, version, kernel, weight handling. */
    String describe();

    /**
     * {@code out[t * w.rows() + r] = sum_c W[r][c] * x[t * w.cols() + c]} for every token t in
     * [0, batch), with the argument checks of {@link WeightMatrix#matmul} already done. Returns
     * false when it declines the call (the Java kernel then runs); throws nothing it can avoid.
     */
    boolean matmul(WeightMatrix w, float[] x, float[] out, int batch);

    /** How a backend is found on the class path ({@code META-INF/services/dev.starattn.tensor.GemmBackend$Provider}). */
    interface Provider {
        /** The name {@code -Dstarattn.gemm} selects it by, e.g. {@code native}. */
        String name();

        /** Loads the backend (native library and all); throws with a readable message when it cannot. */
        GemmBackend open() throws Exception;
    }
}
