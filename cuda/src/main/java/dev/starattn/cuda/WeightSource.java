package dev.starattn.cuda;

/** Where a {@link CudaModel}'s weights come from: device pointers, bf16 matrices and f32 vectors. */
interface WeightSource {
    enum Name { EMBEDDING, OUTPUT, OUTPUT_NORM, ATTN_NORM, FFN_NORM, WQ, WK, WV, WO, GATE, UP, DOWN, BQ, BK, BV }

    /** A bf16 matrix [rows][cols] on the device (the same pointer for tensors that are shared). */
    long matrix(Name name, int layer, int rows, int cols);

    /** An f32 vector on the device, or 0 when the model has none (biases). */
    long vector(Name name, int layer, int n);
}
