package dev.starattn.model;

import dev.starattn.model.family.Architecture;
import dev.starattn.model.family.Families;
import dev.starattn.model.family.RopeSpec;

/**
 * Shape of a Llama-family decoder (Llama 2/3, Mistral, Qwen2) and its {@link Architecture}
 * descriptor, which holds everything else (norm epsilon, RoPE, biases, tied output, tensor names).
 * The accessors below the sizes read the descriptor.
 */
public record DecoderConfig(
        Architecture descriptor,
        int dim,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int ffnDim,
        int vocabSize,
        int contextLength) {

    public DecoderConfig {
        if (descriptor.layerTypes().size() != layers) {
            throw new IllegalArgumentException("the descriptor has " + descriptor.layerTypes().size() + " layer types for " + layers + " layers");
        }
    }

    /**
     * A config of the standard architecture of family {@code architecture} (see {@link Architecture#standard}).
     *
     * @param ropeNeox     rotate the halves (x[i], x[i + d/2]) as Hugging Face and GGUF qwen2 do;
     *                     false = adjacent pairs (x[2i], x[2i+1]) as GGUF llama does.
     * @param ropeInvFreq  inverse frequencies per rotated pair, with Llama 3.1 scaling or GGUF
     *                     {@code rope_freqs} factors already applied.
     */
    public DecoderConfig(String architecture, int dim, int layers, int heads, int kvHeads, int headDim, int ffnDim, int vocabSize,
                       int contextLength, float rmsEps, float ropeBase, int ropeDim, boolean ropeNeox, float[] ropeInvFreq,
                       boolean qkvBias, boolean tiedOutput) {
        this(Architecture.standard(Families.named(architecture), rmsEps, new RopeSpec(ropeBase, ropeDim, ropeNeox, ropeInvFreq),
                layers, qkvBias, tiedOutput), dim, layers, heads, kvHeads, headDim, ffnDim, vocabSize, contextLength);
    }

    /** The family's name. */
    public String architecture() {
        return descriptor.family().name();
    }

    public float rmsEps() {
        return descriptor.normEps();
    }

    public float ropeBase() {
        return descriptor.fullAttentionRope().base();
    }

    public int ropeDim() {
        return descriptor.fullAttentionRope().dim();
    }

    public boolean ropeNeox() {
        return descriptor.fullAttentionRope().halves();
    }

    public float[] ropeInvFreq() {
        return descriptor.fullAttentionRope().invFreq();
    }

    public boolean qkvBias() {
        return descriptor.qkvBias();
    }

    public boolean tiedOutput() {
        return descriptor.tiedOutput();
    }

    public int qDim() {
        return heads * headDim;
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    /** FLOPs of the matrix products of one token through the whole model, output layer excluded. */
    public long linearFlopsPerToken() {
        long perLayer = (long) dim * qDim() + 2L * dim * kvDim() + (long) qDim() * dim + 3L * dim * ffnDim;
        return 2L * perLayer * layers;
    }

    /** FLOPs of the output layer for one token. */
    public long outputFlopsPerToken() {
        return 2L * dim * vocabSize;
    }

    /** Default inverse frequencies: base^(-2i/ropeDim). */
    public static float[] defaultInvFreq(float base, int ropeDim) {
        float[] f = new float[ropeDim / 2];
        for (int i = 0; i < f.length; i++) f[i] = (float) Math.pow(base, -2.0 * i / ropeDim);
        return f;
    }

    /**
     * Llama 3.1 rope scaling (as Hugging Face's {@code rope_type: llama3}): long wavelengths are
     * divided by {@code factor}, short ones kept, the band between interpolated smoothly.
     */
    public static float[] llama3ScaledInvFreq(float[] invFreq, double factor, double lowFreqFactor,
                                              double highFreqFactor, double originalContext) {
        double lowWavelen = originalContext / lowFreqFactor;
        double highWavelen = originalContext / highFreqFactor;
        float[] out = new float[invFreq.length];
        for (int i = 0; i < invFreq.length; i++) {
            double f = invFreq[i];
            double wavelen = 2 * Math.PI / f;
            if (wavelen < highWavelen) {
                out[i] = (float) f;
            } else if (wavelen > lowWavelen) {
                out[i] = (float) (f / factor);
            } else {
                double smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                out[i] = (float) ((1 - smooth) * f / factor + smooth * f);
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return architecture() + " dim=" + dim + " layers=" + layers + " heads=" + heads + " kv_heads=" + kvHeads
                + " head_dim=" + headDim + " ffn=" + ffnDim + " vocab=" + vocabSize + " ctx=" + contextLength
                + " rope_base=" + ropeBase() + (ropeNeox() ? " rope=neox" : " rope=norm");
    }
}
