package dev.starattn.model.family;

import java.util.Set;

/**
 * One model family as the registry ({@link Families}) knows it: the names files give it, its tensor
 * names and the defaults and quirks that differ between families. {@link dev.starattn.model.ModelSpec}
 * turns a file of the family into an {@link Architecture}.
 *
 * @param name                   the family's name in messages and {@code info}
 * @param ggufArchitectures      GGUF {@code general.architecture} values it answers to
 * @param hfModelTypes           Hugging Face config.json {@code model_type} values it answers to
 * @param qkvBias                its Q/K/V projections always carry biases (other families may still
 *                               have them when the file holds {@code attn_q.bias})
 * @param ggufRopeHalves         its GGUF files rotate by halves (NeoX style); false = by adjacent pairs,
 *                               as llama.cpp's converter permutes Q/K for llama (safetensors always rotate by halves)
 * @param slidingWindowByDefault a stated sliding window applies unless {@code use_sliding_window} says
 *                               otherwise (Qwen2 states one it does not use)
 * @param defaultRmsEps          the norm epsilon when the file gives none
 * @param defaultRopeBase        the RoPE base when the file gives none
 * @param qkNorm                 its queries and keys pass a per-head RMSNorm before RoPE
 * @param gemma                  Gemma's network: norm weights stored as w for (1 + w) in Hugging Face files
 *                               (GGUF converters add the 1), embeddings scaled by sqrt(dim), GeGLU, norms
 *                               after attention and MLP too
 * @param fullLayerEvery         when the file names no layer kinds: every n-th layer (layer i with
 *                               (i + 1) % n == 0) attends over everything and the others slide; 0 = none slide
 */
public record Family(String name, Set<String> ggufArchitectures, Set<String> hfModelTypes, TensorNames tensors,
                     boolean qkvBias, boolean ggufRopeHalves, boolean slidingWindowByDefault,
                     double defaultRmsEps, double defaultRopeBase, boolean qkNorm,
                     boolean gemma, int fullLayerEvery) {
    public Family {
        ggufArchitectures = Set.copyOf(ggufArchitectures);
        hfModelTypes = Set.copyOf(hfModelTypes);
    }
}
