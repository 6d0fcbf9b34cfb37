package dev.starattn.model.family;

import java.util.Set;

/**
 * Qwen3: Llama's network with a per-head RMSNorm on the queries and keys before RoPE, a head size
 * that need not be the embedding size over the heads, NeoX RoPE in GGUF too, and no Q/K/V biases.
 */
public final class Qwen3Family {
    private Qwen3Family() {}

    public static final Family FAMILY = new Family("qwen3", Set.of("qwen3"), Set.of("qwen3"), LlamaFamily.TENSORS,
            false, true, false, 1e-6, 1000000, true, false, 0);
}
