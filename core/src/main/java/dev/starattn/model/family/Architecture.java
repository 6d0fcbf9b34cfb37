package dev.starattn.model.family;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Everything about a model's network besides its sizes, normalised from GGUF metadata or a Hugging
 * Face config: its family (and so its tensor names), the norm, the activation, RoPE per kind of
 * layer, and the optional features of decoder families. The CPU forward pass and the GPU model read
 * it. Every field is here even where the supported families all agree, and a value starattn does
 * not implement is refused on construction rather than ignored: a descriptor that exists is one the
 * forward passes compute exactly. ({@link dev.starattn.model.ModelSpec} refuses such files earlier,
 * naming the field of the file.)
 *
 * @param normWeightOffset  added to the norm weights before scaling (Gemma's 1 in Hugging Face files; GGUF
 *                          converters add it to the weights)
 * @param embeddingScale    factor on the token embeddings (Gemma's sqrt(dim))
 * @param layerTypes        the attention kind of each layer
 * @param rope              the RoPE of each attention kind in {@code layerTypes}
 * @param slidingWindow     the window of {@link LayerType#SLIDING_ATTENTION} layers: a query at position p
 *                          sees keys at (p - W, p]; 0 when no layer slides (a window that Mistral or
 *                          Qwen2 states for every layer is folded into the context length instead,
 *                          within which it changes nothing)
 * @param attnLogitSoftcap  tanh cap on the scaled attention scores (c tanh(s / c)), 0 for none
 * @param finalLogitSoftcap tanh cap on the output logits, 0 for none
 * @param qkvBias           the Q/K/V projections add biases
 * @param attnOutputBias    the attention output projection adds a bias
 * @param mlpBias           the MLP projections add biases
 * @param tiedOutput        the output projection is the token embedding
 * @param qkNorm            a per-head RMSNorm on queries and keys before RoPE (Qwen3, Gemma 3)
 * @param postNorms         RMSNorms on the attention and MLP outputs before their residual adds (Gemma 2/3)
 * @param queryPreAttnScalar the scores are q.k / sqrt(this) (Gemma's query_pre_attn_scalar); 0 for the head size
 */
public record Architecture(
        Family family,
        Norm norm,
        float normWeightOffset,
        float normEps,
        Activation activation,
        float embeddingScale,
        List<LayerType> layerTypes,
        Map<LayerType, RopeSpec> rope,
        int slidingWindow,
        float attnLogitSoftcap,
        float finalLogitSoftcap,
        boolean qkvBias,
        boolean attnOutputBias,
        boolean mlpBias,
        boolean tiedOutput,
        boolean qkNorm,
        boolean postNorms,
        float queryPreAttnScalar) {

    public enum Norm {
        RMS_NORM,
        /** Mean-centred LayerNorm (GPT-2, Phi): not implemented. */
        LAYER_NORM
    }

    /** The MLP's activation; gated (act(gate) * up) in every case. */
    public enum Activation {
        /** SwiGLU. */
        SILU,
        /** GeGLU with the tanh approximation of GELU (Gemma's gelu_pytorch_tanh). */
        GELU_TANH
    }

    public enum LayerType {
        FULL_ATTENTION,
        /** Attention over the last {@code slidingWindow} positions only. */
        SLIDING_ATTENTION
    }

    public Architecture {
        if (family == null || norm == null || activation == null || layerTypes == null || rope == null) {
            throw new IllegalArgumentException("an architecture needs a family, norm, activation, layer types and RoPE");
        }
        layerTypes = List.copyOf(layerTypes);
        rope = Map.copyOf(rope);
        if (norm != Norm.RMS_NORM) throw refused("norm " + norm + " (it implements RMSNorm)");
        if (!Float.isFinite(normWeightOffset)) throw new IllegalArgumentException("norm weight offset " + normWeightOffset + " is not finite");
        if (!(normEps > 0) || normEps >= 1) throw new IllegalArgumentException("norm epsilon " + normEps + " is not between 0 and 1");
        if (!(embeddingScale > 0) || !Float.isFinite(embeddingScale)) throw new IllegalArgumentException("embedding scale " + embeddingScale + " is not positive");
        boolean sliding = false;
        for (LayerType t : layerTypes) {
            if (!rope.containsKey(t)) throw new IllegalArgumentException("no RoPE for layer type " + t);
            sliding |= t == LayerType.SLIDING_ATTENTION;
        }
        if (sliding != (slidingWindow > 0)) {
            throw new IllegalArgumentException(sliding ? "sliding-window layers need a window" : "a sliding window " + slidingWindow + " without sliding-window layers");
        }
        if (!(attnLogitSoftcap >= 0) || !(finalLogitSoftcap >= 0) || !Float.isFinite(attnLogitSoftcap) || !Float.isFinite(finalLogitSoftcap)) {
            throw new IllegalArgumentException("soft caps must be finite and non-negative");
        }
        if (!(queryPreAttnScalar >= 0) || !Float.isFinite(queryPreAttnScalar)) throw new IllegalArgumentException("query_pre_attn_scalar " + queryPreAttnScalar + " is not positive");
        if (attnOutputBias) throw refused("a bias on the attention output projection");
        if (mlpBias) throw refused("MLP biases");
    }

    private static IllegalArgumentException refused(String what) {
        return new IllegalArgumentException("starattn does not implement " + what);
    }

    /**
     * A Llama-shaped network: RMSNorm, SwiGLU, unscaled embeddings, every layer full attention with
     * one RoPE, no soft-caps, optional Q/K/V biases, a Q/K norm where the family has one.
     */
    public static Architecture standard(Family family, float normEps, RopeSpec rope, int layers, boolean qkvBias, boolean tiedOutput) {
        return new Architecture(family, Norm.RMS_NORM, 0, normEps, Activation.SILU, 1,
                Collections.nCopies(layers, LayerType.FULL_ATTENTION), Map.of(LayerType.FULL_ATTENTION, rope),
                0, 0, 0, qkvBias, false, false, tiedOutput, family.qkNorm(), false, 0);
    }

    /**
     * Whether the network is Llama-shaped (what {@link #standard} builds, Q/K norm included): the GPU
     * model computes these and refuses the rest.
     */
    public boolean llamaShaped() {
        return norm == Norm.RMS_NORM && normWeightOffset == 0 && activation == Activation.SILU && embeddingScale == 1
                && slidingWindow == 0 && attnLogitSoftcap == 0 && finalLogitSoftcap == 0 && !postNorms && queryPreAttnScalar == 0
                && rope.size() == 1;
    }

    /** The window layer {@code layer} attends within, 0 for the whole context. */
    public int window(int layer) {
        return layerTypes.get(layer) == LayerType.SLIDING_ATTENTION ? slidingWindow : 0;
    }

    public TensorNames tensors() {
        return family.tensors();
    }

    /** The RoPE of layer {@code layer}. */
    public RopeSpec rope(int layer) {
        return rope.get(layerTypes.get(layer));
    }

    /** The RoPE of full-attention layers (of sliding ones in a model without full layers). */
    public RopeSpec fullAttentionRope() {
        RopeSpec r = rope.get(LayerType.FULL_ATTENTION);
        return r != null ? r : rope.get(LayerType.SLIDING_ATTENTION);
    }
}
