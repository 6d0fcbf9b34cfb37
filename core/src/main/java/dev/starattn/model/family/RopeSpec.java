package dev.starattn.model.family;

/**
 * The rotary position embedding of one kind of layer.
 *
 * @param halves   rotate the halves (x[i], x[i + d/2]) as Hugging Face and GGUF qwen2 do;
 *                 false = adjacent pairs (x[2i], x[2i+1]) as GGUF llama does
 * @param invFreq  inverse frequencies per rotated pair, with Llama 3.1 scaling or GGUF
 *                 {@code rope_freqs} factors already applied
 */
public record RopeSpec(float base, int dim, boolean halves, float[] invFreq) {}
