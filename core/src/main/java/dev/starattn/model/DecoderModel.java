package dev.starattn.model;

import dev.starattn.attention.AttentionLimits;
import dev.starattn.attention.KvSizes;
import dev.starattn.cpu.Parallel;
import dev.starattn.model.family.Architecture;
import dev.starattn.tensor.MatVec;
import dev.starattn.tensor.WeightMatrix;

/**
 * The forward pass of a decoder of any family starattn runs, one layer step at a time, so that the
 * attention strategies (dense, star, ring) can drive it: per layer, {@link #qkv} (norm, projections,
 * bias, Q/K norm, RoPE), then attention through a {@link LayerAttention}, then {@link #finishLayer}
 * (output projection, post norm, residual, gated MLP, post norm, residual). Activations are
 * token-major float arrays. Everything besides the sizes (norm epsilon and weight offset, embedding
 * scale, activation, RoPE per layer kind, biases, Q/K and post norms, query scale, final soft-cap,
 * tied output) comes from the config's {@link Architecture}; the weights were loaded by its tensor
 * names. The attention itself (sliding windows, score soft-cap) is the {@link LayerAttention}'s, with
 * {@link #attentionLimits}.
 */
public final class DecoderModel {
    private final DecoderConfig config;
    private final DecoderWeights weights;

    private final Architecture arch;
    /** Folds the query's scale into q: the kernels scale scores by 1/sqrt(headDim), Gemma by 1/sqrt(query_pre_attn_scalar). */
    private final float queryScale;
    private final AttentionLimits[] limits;

    public DecoderModel(DecoderConfig config, DecoderWeights weights) {
        this.config = config;
        this.weights = weights;
        this.arch = config.descriptor();
        float qpas = arch.queryPreAttnScalar();
        this.queryScale = qpas == 0 ? 1f : (float) Math.sqrt(config.headDim() / (double) qpas);
        this.limits = new AttentionLimits[config.layers()];
        for (int l = 0; l < limits.length; l++) limits[l] = AttentionLimits.of(arch.window(l), arch.attnLogitSoftcap());
    }

    /** What bounds layer {@code layer}'s attention beyond causality: its sliding window and score soft-cap. */
    public AttentionLimits attentionLimits(int layer) {
        return limits[layer];
    }

    public DecoderConfig config() {
        return config;
    }

    public DecoderWeights weights() {
        return weights;
    }

    /** Embeds tokens[off .. off+n) into x (n rows of dim). */
    public float[] embed(int[] tokens, int off, int n) {
        int dim = config.dim();
        float[] x = new float[KvSizes.arrayLength(n, dim, "the CPU embeddings of a prefill chunk")];
        for (int t = 0; t < n; t++) {
            int id = tokens[off + t];
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary (0.." + (config.vocabSize() - 1) + ")");
            }
            weights.tokenEmbedding.dequantizeRow(id, x, t * dim);
        }
        float scale = arch.embeddingScale();
        if (scale != 1) for (int i = 0; i < x.length; i++) x[i] *= scale;
        return x;
    }

    /** Activations of one chunk passing through one layer's attention input. */
    public record Qkv(float[] q, float[] k, float[] v) {}

    /**
     * The intermediate activations of one chunk, reused layer after layer: allocated per layer they
     * were most of the garbage of a prefill (tens of MiB per layer per chunk), which the GC's young
     * generation grew to absorb. q, k and v are not here: the attention may keep them.
     */
    public static final class Scratch {
        final int tokens;
        final float[] xn, o, g, u, att;
        /** q, k and v for attentions that copy what they keep ({@link #forward(int[], int[], int, int, LayerAttention, boolean)}); made on first use. */
        float[] q, k, v;

        public Scratch(DecoderConfig c, int n) {
            tokens = n;
            // The widest row (the FFN's) first: a chunk too long for one Java array is refused in one sentence.
            String what = "the CPU activations of a prefill chunk";
            g = new float[KvSizes.arrayLength(n, c.ffnDim(), what)];
            u = new float[KvSizes.arrayLength(n, c.ffnDim(), what)];
            xn = new float[KvSizes.arrayLength(n, c.dim(), what)];
            o = new float[KvSizes.arrayLength(n, c.dim(), what)];
            att = new float[KvSizes.arrayLength(n, c.qDim(), what)];
        }
    }

    /**
     * Bytes of a forward pass's activations for a chunk of {@code n} tokens: its {@link Scratch} (q, k and v
     * included) and the hidden states. A prefill of any length holds one chunk's at a time.
     */
    public static long activationBytes(DecoderConfig c, int n) {
        return 4L * n * (2L * c.ffnDim() + 3L * c.dim() + 2L * c.qDim() + 2L * c.kvDim());
    }

    /**
     * Scratch of finished forward passes, kept for the next chunk: a chunk's buffers outlive a few
     * young collections, so fresh ones per chunk were promoted and piled up in the old generation
     * as garbage. One per forward pass running at once (hosts in one process run concurrently).
     */
    private final java.util.concurrent.ConcurrentLinkedDeque<Scratch> idleScratch = new java.util.concurrent.ConcurrentLinkedDeque<>();

    private Scratch takeScratch(int n) {
        Scratch s = idleScratch.pollFirst();
        if (s != null && s.tokens == n) return s;
        // A chunk of another length (the last, shorter chunk; decode's single token): its own buffers,
        // kept only when they are the usual chunk length, so that a short chunk does not evict them.
        if (s != null) idleScratch.offerFirst(s);
        return new Scratch(config, n);
    }

    private void returnScratch(Scratch s) {
        if (s.tokens >= 64 && idleScratch.size() < 4) idleScratch.offerFirst(s);
    }

    /** RMSNorm, Q/K/V projections (+ bias), per-head Q/K RMSNorm, RoPE at the chunk's positions, query scale. */
    public Qkv qkv(int layer, float[] x, int n, Rope rope) {
        return qkv(layer, x, n, rope, new Scratch(config, n));
    }

    /** {@link #qkv(int, float[], int, Rope)} with the chunk's scratch. */
    public Qkv qkv(int layer, float[] x, int n, Rope rope, Scratch s) {
        return qkv(layer, x, n, rope, s, false);
    }

    /** With {@code reuse}, q, k and v are the scratch's arrays (overwritten by the next layer), else new ones. */
    private Qkv qkv(int layer, float[] x, int n, Rope rope, Scratch s, boolean reuse) {
        DecoderWeights.Layer w = weights.layers[layer];
        float[] xn = rmsNorm(x, n, w.attnNorm, config.dim(), s.xn);
        if (reuse && s.q == null) {
            s.q = new float[n * config.qDim()];
            s.k = new float[n * config.kvDim()];
            s.v = new float[n * config.kvDim()];
        }
        float[] q = reuse ? s.q : new float[n * config.qDim()];
        float[] k = reuse ? s.k : new float[n * config.kvDim()];
        float[] v = reuse ? s.v : new float[n * config.kvDim()];
        if (n == 1) {
            // Decode: one parallel section for the three products instead of three.
            MatVec.multiply(xn, new WeightMatrix[] {w.wq, w.wk, w.wv}, new float[][] {q, k, v});
        } else {
            w.wq.matmul(xn, q, n);
            w.wk.matmul(xn, k, n);
            w.wv.matmul(xn, v, n);
        }
        if (w.bq != null) {
            addBias(q, n, w.bq);
            addBias(k, n, w.bk);
            addBias(v, n, w.bv);
        }
        if (w.qNorm != null) {
            // Per head: the rows of q are heads * headDim wide, so headDim-wide norms over n * heads rows.
            q = rmsNorm(q, n * config.heads(), w.qNorm, config.headDim());
            k = rmsNorm(k, n * config.kvHeads(), w.kNorm, config.headDim());
        }
        rope.apply(layer, q, n, config.heads());
        rope.apply(layer, k, n, config.kvHeads());
        if (queryScale != 1) for (int i = 0; i < q.length; i++) q[i] *= queryScale;
        return new Qkv(q, k, v);
    }

    /** x += postNorm(Wo.att); x += postNorm(down(act(gate(norm x)) * up(norm x))), the post norms where the model has them. */
    public void finishLayer(int layer, float[] x, int n, float[] att) {
        finishLayer(layer, x, n, att, new Scratch(config, n));
    }

    /** {@link #finishLayer(int, float[], int, float[])} with the chunk's scratch. */
    public void finishLayer(int layer, float[] x, int n, float[] att, Scratch s) {
        DecoderWeights.Layer w = weights.layers[layer];
        int dim = config.dim();
        float[] o = s.o, g = s.g, u = s.u;
        w.wo.matmul(att, o, n);
        add(x, w.attnPostNorm != null ? rmsNorm(o, n, w.attnPostNorm, dim) : o);
        float[] xn = rmsNorm(x, n, w.ffnNorm, dim, s.xn);
        boolean gelu = arch.activation() == Architecture.Activation.GELU_TANH;
        if (n == 1 && !gelu) {
            // Decode: gate, up and SwiGLU in one parallel section.
            MatVec.swiglu(xn, w.gate, w.up, g);
        } else {
            w.gate.matmul(xn, g, n);
            w.up.matmul(xn, u, n);
            Parallel.forRange(n * config.ffnDim(), 4096, (from, to) -> {
                for (int i = from; i < to; i++) {
                    float a = g[i];
                    g[i] = (gelu ? geluTanh(a) : a / (1f + (float) Math.exp(-a))) * u[i];
                }
            });
        }
        w.down.matmul(g, o, n);
        add(x, w.ffnPostNorm != null ? rmsNorm(o, n, w.ffnPostNorm, dim) : o);
    }

    /**
     * Runs the chunk tokens[off..off+n) at positions pos[off..] through every layer with the
     * given attention, returning the final hidden states (before the output norm).
     */
    public float[] forward(int[] tokens, int[] pos, int off, int n, LayerAttention attention) {
        return forward(tokens, pos, off, n, attention, false);
    }

    /**
     * As {@link #forward(int[], int[], int, int, LayerAttention)}; {@code attentionCopies}: the attention
     * keeps nothing of q, k and v past its call (it copies what it caches), so one set of arrays serves
     * every layer and chunk. Fresh ones per layer were 5 MiB of garbage a layer for a 1024-token chunk
     * of a 125M model, which outlived young collections and piled up in the old generation.
     */
    public float[] forward(int[] tokens, int[] pos, int off, int n, LayerAttention attention, boolean attentionCopies) {
        float[] x = embed(tokens, off, n);
        Rope rope = new Rope(config, pos, off, n);
        Scratch scratch = takeScratch(n);
        float[] att = scratch.att;
        for (int l = 0; l < config.layers(); l++) {
            Qkv qkv = qkv(l, x, n, rope, scratch, attentionCopies);
            attention.attend(l, qkv.q(), qkv.k(), qkv.v(), n, pos, off, att);
            finishLayer(l, x, n, att, scratch);
        }
        returnScratch(scratch);
        return x;
    }

    /** Logits of hidden row {@code row} of x: output(norm(x[row])). */
    public float[] logits(float[] x, int row) {
        int dim = config.dim();
        float[] h = new float[dim];
        System.arraycopy(x, row * dim, h, 0, dim);
        float[] hn = rmsNorm(h, 1, weights.outputNorm, dim);
        float[] logits = new float[config.vocabSize()];
        weights.output.matmul(hn, logits, 1);
        float cap = arch.finalLogitSoftcap();
        if (cap != 0) for (int i = 0; i < logits.length; i++) logits[i] = (float) (cap * Math.tanh(logits[i] / cap));
        return logits;
    }

    /** GELU with the tanh approximation (PyTorch's gelu(approximate="tanh")). */
    static float geluTanh(float a) {
        double x = a;
        return (float) (0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));
    }

    /** RMSNorm of n rows of width {@code dim} (the model's width, or the head size for the Q/K norms). */
    float[] rmsNorm(float[] x, int n, float[] w, int dim) {
        return rmsNorm(x, n, w, dim, new float[n * dim]);
    }

    /** The same into {@code out[0 .. n*dim)}; out may be longer. */
    float[] rmsNorm(float[] x, int n, float[] w, int dim, float[] out) {
        float eps = config.descriptor().normEps();
        Parallel.forRange(n, 16, (from, to) -> {
            for (int t = from; t < to; t++) {
                int off = t * dim;
                double ss = 0;
                for (int i = 0; i < dim; i++) ss += (double) x[off + i] * x[off + i];
                float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
                for (int i = 0; i < dim; i++) out[off + i] = x[off + i] * inv * w[i];
            }
        });
        return out;
    }

    private static void addBias(float[] x, int n, float[] b) {
        int d = b.length;
        for (int t = 0; t < n; t++) for (int i = 0; i < d; i++) x[t * d + i] += b[i];
    }

    private static void add(float[] x, float[] y) {
        for (int i = 0; i < x.length; i++) x[i] += y[i];
    }
}
