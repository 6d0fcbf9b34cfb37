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

    /**
     * The sliding layers' RoPE base of a Gemma 3 file that does not state one: llama.cpp assumes it for a GGUF
     * without {@code rope.freq_base_swa}, transformers' {@code Gemma3TextConfig} for a config without
     * {@code rope_local_base_freq} or {@code rope_parameters.sliding_attention.rope_theta}.
     */
    public static final double GEMMA3_LOCAL_ROPE_BASE = 10000;

    /** Gemma 2: every other layer (the even ones) slides. */
    public static final Family GEMMA2 = new Family("gemma2", Set.of("gemma2"), Set.of("gemma2"), TENSORS,
            false, true, false, 1e-6, 10000, false, true, 2);

    /** Gemma 3 text: five sliding layers to one full (sliding_window_pattern 6) unless the file says otherwise. */
    public static final Family GEMMA3 = new Family("gemma3", Set.of("gemma3"), Set.of("gemma3_text"), TENSORS,
            false, true, false, 1e-6, 1000000, true, true, 6);

    /**
     * Gemma 3 4B and up ({@code Gemma3ForConditionalGeneration}): the text model under {@code text_config},
     * with transformers' {@code Gemma3TextConfig} defaults for the fields it omits (the global RoPE base,
     * 1e6, is the family's default already; stating it here would clash with a {@code rope_parameters}
     * that gives another). Its text tensors are named {@code language_model.model.*} (as transformers 4.50
     * wrote them and 5.x still saves them) or {@code model.language_model.*} (the in-memory names of later
     * transformers, which some checkpoints were saved with).
     */
    public static final MultimodalCheckpoint GEMMA3_MULTIMODAL = new MultimodalCheckpoint("gemma3", "text_config", "gemma3_text",
            Map.ofEntries(
                    Map.entry("vocab_size", 262208),
                    Map.entry("hidden_size", 2304),
                    Map.entry("intermediate_size", 9216),
                    Map.entry("num_hidden_layers", 26),
                    Map.entry("num_attention_heads", 8),
                    Map.entry("num_key_value_heads", 4),
                    Map.entry("head_dim", 256),
                    Map.entry("hidden_activation", "gelu_pytorch_tanh"),
                    Map.entry("max_position_embeddings", 131072),
                    Map.entry("rms_norm_eps", 1e-6),
                    Map.entry("bos_token_id", 2),
                    Map.entry("eos_token_id", 1),
                    Map.entry("tie_word_embeddings", true),
                    Map.entry("attention_bias", false),
                    Map.entry("query_pre_attn_scalar", 256),
                    Map.entry("sliding_window", 4096),
                    Map.entry("sliding_window_pattern", 6),
                    Map.entry("rope_local_base_freq", 10000.0)),
            Map.of("language_model.model.", "model.",
                    "language_model.lm_head.", "lm_head.",
                    "model.language_model.", "model."),
            List.of("vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."),
            "the vision tower and its projector");
}
