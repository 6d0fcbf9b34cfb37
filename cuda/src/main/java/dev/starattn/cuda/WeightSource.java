package dev.starattn.cuda;

import dev.starattn.model.family.TensorRole;

/**
 * Where a {@link CudaModel}'s weights come from, asked by the descriptor's tensor roles: device
 * pointers, bf16 matrices and f32 vectors.
 */
interface WeightSource {
    /** A bf16 matrix [rows][cols] on the device (the same pointer for tensors that are shared); layer -1 for model-wide ones. */
    long matrix(TensorRole role, int layer, int rows, int cols);

    /** An f32 vector on the device, or 0 when the model has none (biases). */
    long vector(TensorRole role, int layer, int n);
}
