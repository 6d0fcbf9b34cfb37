package dev.starattn.model.family;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** Llama 2/3 (and the tensor names Mistral, Qwen2 and Qwen3 share with it). */
public final class LlamaFamily {
    private LlamaFamily() {}

    /** llama.cpp's GGUF names and transformers' LlamaForCausalLM names. */
    public static final TensorNames TENSORS = new TensorNames(
            "blk.", Map.ofEntries(
                    Map.entry(TensorRole.TOKEN_EMBEDDING, "token_embd.weight"),
                    Map.entry(TensorRole.OUTPUT_NORM, "output_norm.weight"),
                    Map.entry(TensorRole.OUTPUT, "output.weight"),
                    Map.entry(TensorRole.ROPE_FREQS, "rope_freqs.weight"),
                    Map.entry(TensorRole.ATTN_NORM, "attn_norm.weight"),
                    Map.entry(TensorRole.ATTN_Q, "attn_q.weight"),
                    Map.entry(TensorRole.ATTN_K, "attn_k.weight"),
                    Map.entry(TensorRole.ATTN_V, "attn_v.weight"),
                    Map.entry(TensorRole.ATTN_OUTPUT, "attn_output.weight"),
                    Map.entry(TensorRole.ATTN_Q_BIAS, "attn_q.bias"),
                    Map.entry(TensorRole.ATTN_K_BIAS, "attn_k.bias"),
                    Map.entry(TensorRole.ATTN_V_BIAS, "attn_v.bias"),
                    Map.entry(TensorRole.ATTN_OUTPUT_BIAS, "attn_output.bias"),
                    Map.entry(TensorRole.ATTN_Q_NORM, "attn_q_norm.weight"),
                    Map.entry(TensorRole.ATTN_K_NORM, "attn_k_norm.weight"),
                    Map.entry(TensorRole.ATTN_POST_NORM, "post_attention_norm.weight"),
                    Map.entry(TensorRole.FFN_NORM, "ffn_norm.weight"),
                    Map.entry(TensorRole.FFN_POST_NORM, "post_ffw_norm.weight"),
                    Map.entry(TensorRole.FFN_GATE, "ffn_gate.weight"),
                    Map.entry(TensorRole.FFN_UP, "ffn_up.weight"),
                    Map.entry(TensorRole.FFN_DOWN, "ffn_down.weight")),
            "model.layers.", Map.ofEntries(
                    Map.entry(TensorRole.TOKEN_EMBEDDING, "model.embed_tokens.weight"),
                    Map.entry(TensorRole.OUTPUT_NORM, "model.norm.weight"),
                    Map.entry(TensorRole.OUTPUT, "lm_head.weight"),
                    Map.entry(TensorRole.ATTN_NORM, "input_layernorm.weight"),
                    Map.entry(TensorRole.ATTN_Q, "self_attn.q_proj.weight"),
                    Map.entry(TensorRole.ATTN_K, "self_attn.k_proj.weight"),
                    Map.entry(TensorRole.ATTN_V, "self_attn.v_proj.weight"),
                    Map.entry(TensorRole.ATTN_OUTPUT, "self_attn.o_proj.weight"),
                    Map.entry(TensorRole.ATTN_Q_BIAS, "self_attn.q_proj.bias"),
                    Map.entry(TensorRole.ATTN_K_BIAS, "self_attn.k_proj.bias"),
                    Map.entry(TensorRole.ATTN_V_BIAS, "self_attn.v_proj.bias"),
                    Map.entry(TensorRole.ATTN_OUTPUT_BIAS, "self_attn.o_proj.bias"),
                    Map.entry(TensorRole.ATTN_Q_NORM, "self_attn.q_norm.weight"),
                    Map.entry(TensorRole.ATTN_K_NORM, "self_attn.k_norm.weight"),
                    Map.entry(TensorRole.FFN_NORM, "post_attention_layernorm.weight"),
                    Map.entry(TensorRole.FFN_GATE, "mlp.gate_proj.weight"),
                    Map.entry(TensorRole.FFN_UP, "mlp.up_proj.weight"),
                    Map.entry(TensorRole.FFN_DOWN, "mlp.down_proj.weight")),
            // Transformers saved RoPE's inverse frequencies with the weights; they are recomputed from the config.
            List.of(".self_attn.rotary_emb.inv_freq"));

    public static final Family FAMILY = new Family("llama", Set.of("llama"), Set.of("llama"), TENSORS,
            false, false, true, 1e-5, 10000, false, false, 0);
}
