package dev.starattn.model;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.model.family.Architecture;
import dev.starattn.model.family.TensorNames;
import dev.starattn.model.family.TensorRole;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;

/**
 * The weights of a Llama-family model, referring to the mapped file (nothing large is copied).
 * Shapes are checked against the config so that a file that lies fails here, with the tensor's
 * name, rather than deep inside a kernel.
 */
public final class DecoderWeights {
    public final WeightMatrix tokenEmbedding;
    public final float[] outputNorm;
    public final WeightMatrix output;
    public final Layer[] layers;

    /**
     * One transformer block. Biases are null unless the architecture has them (Qwen2), the Q/K norms
     * unless it has them (Qwen3, Gemma 3), the post norms unless it has them (Gemma). Norm weights hold
     * the architecture's norm weight offset already added (Gemma's 1 + w).
     */
    public static final class Layer {
        public final float[] attnNorm, ffnNorm;
        public final WeightMatrix wq, wk, wv, wo, gate, up, down;
        public final float[] bq, bk, bv;
        public final float[] qNorm, kNorm, attnPostNorm, ffnPostNorm;

        Layer(float[] attnNorm, float[] ffnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
              WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] bq, float[] bk, float[] bv,
              float[] qNorm, float[] kNorm, float[] attnPostNorm, float[] ffnPostNorm) {
            this.qNorm = qNorm;
            this.kNorm = kNorm;
            this.attnPostNorm = attnPostNorm;
            this.ffnPostNorm = ffnPostNorm;
            this.attnNorm = attnNorm;
            this.ffnNorm = ffnNorm;
            this.wq = wq;
            this.wk = wk;
            this.wv = wv;
            this.wo = wo;
            this.gate = gate;
            this.up = up;
            this.down = down;
            this.bq = bq;
            this.bk = bk;
            this.bv = bv;
        }
    }

    private DecoderWeights(WeightMatrix tokenEmbedding, float[] outputNorm, WeightMatrix output, Layer[] layers) {
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layers = layers;
    }

    /** Loads every tensor the config's descriptor names, biases and a separate output only where it says so. */
    public static DecoderWeights load(DecoderConfig c, TensorSource src) {
        Architecture d = c.descriptor();
        TensorNames n = d.tensors();
        WeightMatrix embd = matrix(src, n.gguf(TensorRole.TOKEN_EMBEDDING), c.vocabSize(), c.dim());
        float off = d.normWeightOffset();
        float[] outNorm = norm(src, n.gguf(TensorRole.OUTPUT_NORM), c.dim(), off);
        WeightMatrix out = d.tiedOutput() ? embd : matrix(src, n.gguf(TensorRole.OUTPUT), c.vocabSize(), c.dim());
        Layer[] layers = new Layer[c.layers()];
        for (int i = 0; i < c.layers(); i++) {
            layers[i] = new Layer(
                    norm(src, n.gguf(TensorRole.ATTN_NORM, i), c.dim(), off),
                    norm(src, n.gguf(TensorRole.FFN_NORM, i), c.dim(), off),
                    matrix(src, n.gguf(TensorRole.ATTN_Q, i), c.qDim(), c.dim()),
                    matrix(src, n.gguf(TensorRole.ATTN_K, i), c.kvDim(), c.dim()),
                    matrix(src, n.gguf(TensorRole.ATTN_V, i), c.kvDim(), c.dim()),
                    matrix(src, n.gguf(TensorRole.ATTN_OUTPUT, i), c.dim(), c.qDim()),
                    matrix(src, n.gguf(TensorRole.FFN_GATE, i), c.ffnDim(), c.dim()),
                    matrix(src, n.gguf(TensorRole.FFN_UP, i), c.ffnDim(), c.dim()),
                    matrix(src, n.gguf(TensorRole.FFN_DOWN, i), c.dim(), c.ffnDim()),
                    d.qkvBias() ? vector(src, n.gguf(TensorRole.ATTN_Q_BIAS, i), c.qDim()) : null,
                    d.qkvBias() ? vector(src, n.gguf(TensorRole.ATTN_K_BIAS, i), c.kvDim()) : null,
                    d.qkvBias() ? vector(src, n.gguf(TensorRole.ATTN_V_BIAS, i), c.kvDim()) : null,
                    d.qkNorm() ? norm(src, n.gguf(TensorRole.ATTN_Q_NORM, i), c.headDim(), off) : null,
                    d.qkNorm() ? norm(src, n.gguf(TensorRole.ATTN_K_NORM, i), c.headDim(), off) : null,
                    d.postNorms() ? norm(src, n.gguf(TensorRole.ATTN_POST_NORM, i), c.dim(), off) : null,
                    d.postNorms() ? norm(src, n.gguf(TensorRole.FFN_POST_NORM, i), c.dim(), off) : null);
        }
        return new DecoderWeights(embd, outNorm, out, layers);
    }

    private static WeightMatrix matrix(TensorSource src, String name, int rows, int cols) {
        TensorRef t = src.require(name);
        if (t.dims().length != 2 || t.rows() != rows || t.cols() != cols) {
            throw new ModelFormatException("tensor " + dev.starattn.format.Printable.quote(name) + " has shape " + java.util.Arrays.toString(t.dims())
                    + " but the model's config needs [" + cols + ", " + rows + "]");
        }
        try {
            return WeightMatrices.of(t);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException("tensor " + dev.starattn.format.Printable.quote(name) + " cannot be used: " + e.getMessage(), e);
        }
    }

    /** A norm's weights with {@code offset} added (in f32, as transformers computes Gemma's 1 + w). */
    private static float[] norm(TensorSource src, String name, int n, float offset) {
        float[] w = vector(src, name, n);
        if (offset != 0) for (int i = 0; i < n; i++) w[i] += offset;
        return w;
    }

    private static float[] vector(TensorSource src, String name, int n) {
        TensorRef t = src.require(name);
        if (t.elements() != n) {
            throw new ModelFormatException("tensor " + dev.starattn.format.Printable.quote(name) + " has " + t.elements() + " elements but the model's config needs " + n);
        }
        WeightMatrix m;
        try {
            m = WeightMatrices.of(t.type(), t.data(), 1, n);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException("tensor " + dev.starattn.format.Printable.quote(name) + " cannot be used: " + e.getMessage(), e);
        }
        float[] v = new float[n];
        m.dequantizeRow(0, v, 0);
        return v;
    }
}
