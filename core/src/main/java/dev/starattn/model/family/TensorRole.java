package dev.starattn.model.family;

/**
 * What a weight tensor is for, whatever a file format calls it. A family's {@link TensorNames} gives
 * each role its GGUF and Hugging Face name; the loaders and both forward passes ask by role.
 */
public enum TensorRole {
    TOKEN_EMBEDDING(false),
    OUTPUT_NORM(false),
    OUTPUT(false),
    /** GGUF's per-frequency RoPE divisors (Llama 3.1); folded into the inverse frequencies at load. */
    ROPE_FREQS(false),
    ATTN_NORM(true),
    ATTN_Q(true),
    ATTN_K(true),
    ATTN_V(true),
    ATTN_OUTPUT(true),
    ATTN_Q_BIAS(true),
    ATTN_K_BIAS(true),
    ATTN_V_BIAS(true),
    ATTN_OUTPUT_BIAS(true),
    /** Per-head RMSNorm of the queries and keys before RoPE (Qwen3, Gemma 3). */
    ATTN_Q_NORM(true),
    ATTN_K_NORM(true),
    /** RMSNorm of the attention output before its residual add (Gemma 2/3). */
    ATTN_POST_NORM(true),
    FFN_NORM(true),
    /** RMSNorm of the MLP output before its residual add (Gemma 2/3). */
    FFN_POST_NORM(true),
    FFN_GATE(true),
    FFN_UP(true),
    FFN_DOWN(true);

    private final boolean perLayer;

    TensorRole(boolean perLayer) {
        this.perLayer = perLayer;
    }

    /** One tensor per transformer block (named with the layer index) rather than one per model. */
    public boolean perLayer() {
        return perLayer;
    }

    public boolean isBias() {
        return this == ATTN_Q_BIAS || this == ATTN_K_BIAS || this == ATTN_V_BIAS || this == ATTN_OUTPUT_BIAS;
    }
}
