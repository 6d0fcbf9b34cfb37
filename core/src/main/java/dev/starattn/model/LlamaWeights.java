package dev.starattn.model;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;

/**
 * The weights of a Llama-family model, referring to the mapped file (nothing large is copied).
 * Shapes are checked against the config so that a file that lies fails here, with the tensor's
 * name, rather than deep inside a kernel.
 */
public final class LlamaWeights {
    public final WeightMatrix tokenEmbedding;
    public final float[] outputNorm;
    public final WeightMatrix output;
    public final Layer[] layers;

    /** One transformer block. Biases are null unless the architecture has them (Qwen2). */
    public static final class Layer {
        public final float[] attnNorm, ffnNorm;
        public final WeightMatrix wq, wk, wv, wo, gate, up, down;
        public final float[] bq, bk, bv;

        Layer(float[] attnNorm, float[] ffnNorm, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix wo,
              WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] bq, float[] bk, float[] bv) {
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

    private LlamaWeights(WeightMatrix tokenEmbedding, float[] outputNorm, WeightMatrix output, Layer[] layers) {
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layers = layers;
    }

    public static LlamaWeights load(LlamaConfig c, TensorSource src) {
        WeightMatrix embd = matrix(src, "token_embd.weight", c.vocabSize(), c.dim());
        float[] outNorm = vector(src, "output_norm.weight", c.dim());
        WeightMatrix out = c.tiedOutput() ? embd : matrix(src, "output.weight", c.vocabSize(), c.dim());
        Layer[] layers = new Layer[c.layers()];
        for (int i = 0; i < c.layers(); i++) {
            String p = "blk." + i + ".";
            layers[i] = new Layer(
                    vector(src, p + "attn_norm.weight", c.dim()),
                    vector(src, p + "ffn_norm.weight", c.dim()),
                    matrix(src, p + "attn_q.weight", c.qDim(), c.dim()),
                    matrix(src, p + "attn_k.weight", c.kvDim(), c.dim()),
                    matrix(src, p + "attn_v.weight", c.kvDim(), c.dim()),
                    matrix(src, p + "attn_output.weight", c.dim(), c.qDim()),
                    matrix(src, p + "ffn_gate.weight", c.ffnDim(), c.dim()),
                    matrix(src, p + "ffn_up.weight", c.ffnDim(), c.dim()),
                    matrix(src, p + "ffn_down.weight", c.dim(), c.ffnDim()),
                    c.qkvBias() ? vector(src, p + "attn_q.bias", c.qDim()) : null,
                    c.qkvBias() ? vector(src, p + "attn_k.bias", c.kvDim()) : null,
                    c.qkvBias() ? vector(src, p + "attn_v.bias", c.kvDim()) : null);
        }
        return new LlamaWeights(embd, outNorm, out, layers);
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
