package dev.starattn.model.family;

import java.util.Set;

/**
 * Qwen2: Llama's network with Q/K/V biases, NeoX RoPE in GGUF too, and a sliding window that applies
 * only where {@code use_sliding_window} says so.
 */
public final class Qwen2Family {
    private Qwen2Family() {}

    public static final Family FAMILY = new Family("qwen2", Set.of("qwen2"), Set.of("qwen2"), LlamaFamily.TENSORS,
            true, true, false, 1e-5, 10000, false, false, 0);
}
