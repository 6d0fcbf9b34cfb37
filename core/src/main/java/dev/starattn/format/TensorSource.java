package dev.starattn.format;

import java.util.Optional;

/**
 * Where the model loader gets tensors from, whatever the file format. Names are GGUF names
 * ({@code token_embd.weight}, {@code blk.3.attn_q.weight}, ...); a safetensors source maps
 * Hugging Face names onto them.
 */
public interface TensorSource extends AutoCloseable {
    Optional<TensorRef> find(String ggufName);

    /** The tensor, or a {@link ModelFormatException} naming the missing tensor and the file. */
    TensorRef require(String ggufName);

    @Override
    void close();
}
