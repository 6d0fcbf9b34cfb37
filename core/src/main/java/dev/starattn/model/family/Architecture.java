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
 * @param normWeightOffset  added to the norm weights before scaling (Gemma's 1); 0 here
 * @param embeddingScale    factor on the token embeddings (Gemma's sqrt(dim)); 1 here
 * @param layerTypes        the attention kind of each layer
 * @param rope              the RoPE of each attention kind in {@code layerTypes}
 * @param slidingWindow     a window the attention is limited to, 0 for none (a window a file states is
 *                          folded into the context length, within which it changes nothing)
 * @param attnLogitSoftcap  tanh cap on attention scores, 0 for none
 * @param finalLogitSoftcap tanh cap on the output logits, 0 for none
 * @param qkvBias           the Q/K/V projections add biases
 * @param attnOutputBias    the attention output projection adds a bias
 * @param mlpBias           the MLP projections add biases
 * @param tiedOutput        the output projection is the token embedding
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
        boolean tiedOutput) {

    public enum Norm {
        RMS_NORM,
        /** Mean-centred LayerNorm (GPT-2, Phi): not implemented. */
        LAYER_NORM
    }

    /** The MLP's activation; gated (act(gate) * up) in every case. */
    public enum Activation {
        /** SwiGLU. */
        SILU,
        /** GeGLU (Gemma's gelu_pytorch_tanh): not implemented. */
        GELU_TANH
    }

    public enum LayerType {
        FULL_ATTENTION,
        /** Attention over the last {@code slidingWindow} positions only: not implemented. */
        SLIDING_ATTENTION
    }

    public Architecture {
        if (family == null || norm == null || activation == null || layerTypes == null || rope == null) {
            throw new IllegalArgumentException("an architecture needs a family, norm, activation, layer types and RoPE");
        }
        layerTypes = List.copyOf(layerTypes);
        rope = Map.copyOf(rope);
        if (norm != Norm.RMS_NORM) throw refused("norm " + norm + " (it implements RMSNorm)");
        if (normWeightOffset != 0) throw refused("norm weight offset " + normWeightOffset + " (it implements 0)");
        if (!(normEps > 0) || normEps >= 1) throw new IllegalArgumentException("norm epsilon " + normEps + " is not between 0 and 1");
        if (activation != Activation.SILU) throw refused("activation " + activation + " (it implements SiLU)");
        if (embeddingScale != 1) throw refused("embedding scale " + embeddingScale + " (it implements 1)");
        for (LayerType t : layerTypes) {
            if (t != LayerType.FULL_ATTENTION) throw refused("layer type " + t + " (every layer attends over the whole context)");
            if (!rope.containsKey(t)) throw new IllegalArgumentException("no RoPE for layer type " + t);
        }
        if (slidingWindow != 0) throw refused("sliding window " + slidingWindow + " (it attends over the whole context)");
        if (attnLogitSoftcap != 0 || finalLogitSoftcap != 0) throw refused("logit soft-capping");
        if (attnOutputBias) throw refused("a bias on the attention output projection");
        if (mlpBias) throw refused("MLP biases");
    }

    private static IllegalArgumentException refused(String what) {
        return new IllegalArgumentException("starattn does not implement " + what);
    }

    /**
     * A network of the supported shape: RMSNorm, SwiGLU, unscaled embeddings, every layer full
     * attention with one RoPE, no soft-caps, optional Q/K/V biases.
     */
    public static Architecture standard(Family family, float normEps, RopeSpec rope, int layers, boolean qkvBias, boolean tiedOutput) {
        return new Architecture(family, Norm.RMS_NORM, 0, normEps, Activation.SILU, 1,
                Collections.nCopies(layers, LayerType.FULL_ATTENTION), Map.of(LayerType.FULL_ATTENTION, rope),
                0, 0, 0, qkvBias, false, false, tiedOutput);
    }

    public TensorNames tensors() {
        return family.tensors();
    }

    /** The RoPE of layer {@code layer}. */
    public RopeSpec rope(int layer) {
        return rope.get(layerTypes.get(layer));
    }

    /** The RoPE of full-attention layers, which every layer is (the constructor refuses other kinds). */
    public RopeSpec fullAttentionRope() {
        return rope.get(LayerType.FULL_ATTENTION);
    }
}
