package dev.starattn.model.family;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Gemma 2 and Gemma 3 (text): RMSNorm with weights stored as w for (1 + w), embeddings scaled by
 * sqrt(dim), GeGLU (tanh GELU), norms before and after attention and the MLP, scores scaled by
 * {@code query_pre_attn_scalar}, sliding-window layers among full ones; Gemma 2 adds attention and
 * final logit soft-caps, Gemma 3 per-head Q/K norms and a RoPE base of its own for the sliding layers.
 * The output projection is always the embedding.
 */
public final class GemmaFamilies {
    private GemmaFamilies() {}

    /** llama.cpp's GGUF names (as Llama's) and transformers' Gemma2/Gemma3 names. */
    public static final TensorNames TENSORS = new TensorNames(
            "blk.", gguf(),
            "model.layers.", Map.ofEntries(
                    Map.entry(TensorRole.TOKEN_EMBEDDING, "model.embed_tokens.weight"),
                    Map.entry(TensorRole.OUTPUT_NORM, "model.norm.weight"),
                    Map.entry(TensorRole.OUTPUT, "lm_head.weight"),
                    Map.entry(TensorRole.ATTN_NORM, "input_layernorm.weight"),
                    Map.entry(TensorRole.ATTN_Q, "self_attn.q_proj.weight"),
                    Map.entry(TensorRole.ATTN_K, "self_attn.k_proj.weight"),
                    Map.entry(TensorRole.ATTN_V, "self_attn.v_proj.weight"),
                    Map.entry(TensorRole.ATTN_OUTPUT, "self_attn.o_proj.weight"),
                    Map.entry(TensorRole.ATTN_Q_NORM, "self_attn.q_norm.weight"),
                    Map.entry(TensorRole.ATTN_K_NORM, "self_attn.k_norm.weight"),
                    // Gemma's post_attention_layernorm follows the attention; the MLP's input norm is pre_feedforward_layernorm.
                    Map.entry(TensorRole.ATTN_POST_NORM, "post_attention_layernorm.weight"),
                    Map.entry(TensorRole.FFN_NORM, "pre_feedforward_layernorm.weight"),
                    Map.entry(TensorRole.FFN_POST_NORM, "post_feedforward_layernorm.weight"),
                    Map.entry(TensorRole.FFN_GATE, "mlp.gate_proj.weight"),
                    Map.entry(TensorRole.FFN_UP, "mlp.up_proj.weight"),
                    Map.entry(TensorRole.FFN_DOWN, "mlp.down_proj.weight")),
            List.of(".self_attn.rotary_emb.inv_freq"));

    private static Map<TensorRole, String> gguf() {
        Map<TensorRole, String> m = new java.util.EnumMap<>(TensorRole.class);
        for (TensorRole r : TensorRole.values()) {
            m.put(r, r.perLayer() ? LlamaFamily.TENSORS.gguf(r, 0).substring("blk.0.".length()) : LlamaFamily.TENSORS.gguf(r));
        }
        return m;
    }

    /** The sliding layers' RoPE base llama.cpp assumes for a GGUF gemma3 that does not state {@code rope.freq_base_swa}. */
    public static final double GEMMA3_GGUF_LOCAL_ROPE_BASE = 10000;

    /** Gemma 2: every other layer (the even ones) slides. */
    public static final Family GEMMA2 = new Family("gemma2", Set.of("gemma2"), Set.of("gemma2"), TENSORS,
            false, true, false, 1e-6, 10000, false, true, 2);

    /** Gemma 3 text: five sliding layers to one full (sliding_window_pattern 6) unless the file says otherwise. */
    public static final Family GEMMA3 = new Family("gemma3", Set.of("gemma3"), Set.of("gemma3_text"), TENSORS,
            false, true, false, 1e-6, 1000000, true, true, 6);
}
