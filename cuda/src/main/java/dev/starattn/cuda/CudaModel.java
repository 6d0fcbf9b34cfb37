package dev.starattn.cuda;

import dev.starattn.attention.KvSizes;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.family.Architecture;
import dev.starattn.model.family.RopeSpec;
import dev.starattn.model.family.TensorRole;

/**
 * A Llama-family model resident on one GPU: weights uploaded once as bf16 (norms, biases and RoPE
 * frequencies as f32), activations in f32 between kernels and bf16 into cuBLAS (f32 accumulation),
 * KV in {@link DeviceKv} caches on the GPU. {@link #forward} runs a whole chunk through every layer
 * on the device; only the token ids and positions go in and the last row's logits come out. The
 * weights are asked for by the config's {@link Architecture} tensor roles, and its norm epsilon, RoPE,
 * biases and tied output drive the kernels.
 */
public final class CudaModel implements AutoCloseable {
    private final CudaDevice dev;
    private final DecoderConfig c;
    private final CudaAttention attention;
    private final long embedding, output, outputNorm, invFreq;
    private final float normEps;
    private final RopeSpec rope;
    private final long[] attnNorm, ffnNorm, wq, wk, wv, wo, gate, up, down, bq, bk, bv, qNorm, kNorm;
    private final long weightBytes;
    // The model's own activations (forward(), CudaStarQuery's phase 2); a ring host owns a set of its own.
    private final Activations scratch;

    public CudaModel(CudaDevice dev, DecoderModel model) {
        this(dev, model.config(), new HostWeights(dev, model.weights()));
    }

    /** A model of shape {@code cfg} with weights from {@code w} (the benchmarks' RandomWeights draws them on the GPU). */
    CudaModel(CudaDevice dev, DecoderConfig cfg, WeightSource w) {
        this.dev = dev;
        this.c = cfg;
        if (cfg.headDim() > 256) throw new CudaException("head_dim " + cfg.headDim() + " is above the GPU kernels' limit of 256");
        Architecture d = cfg.descriptor();
        if (!d.llamaShaped()) {
            throw new CudaException(d.family().name() + " runs on the CPU only: the GPU model computes Llama-shaped networks "
                    + "(RMSNorm, SwiGLU, one RoPE, no sliding window, post norms, query scale or soft-caps); use --device cpu.");
        }
        this.normEps = d.normEps();
        this.rope = d.fullAttentionRope();
        long need = 2L * ((long) cfg.vocabSize() * cfg.dim() * (d.tiedOutput() ? 1 : 2)
                + (long) cfg.layers() * ((long) cfg.dim() * (2L * cfg.qDim() + 2L * cfg.kvDim()) + 3L * cfg.dim() * cfg.ffnDim()));
        dev.requireFree(need + (256L << 20), "the model's weights in bf16");
        this.weightBytes = need;
        this.embedding = w.matrix(TensorRole.TOKEN_EMBEDDING, -1, cfg.vocabSize(), cfg.dim());
        // Tied: a loaded model's source hands back the embedding's pointer.
        this.output = w.matrix(TensorRole.OUTPUT, -1, cfg.vocabSize(), cfg.dim());
        this.outputNorm = w.vector(TensorRole.OUTPUT_NORM, -1, cfg.dim());
        this.invFreq = dev.upload(rope.invFreq());
        int L = cfg.layers();
        attnNorm = new long[L];
        ffnNorm = new long[L];
        wq = new long[L];
        wk = new long[L];
        wv = new long[L];
        wo = new long[L];
        gate = new long[L];
        up = new long[L];
        down = new long[L];
        bq = new long[L];
        qNorm = new long[L];
        kNorm = new long[L];
        bk = new long[L];
        bv = new long[L];
        int dim = cfg.dim(), qd = cfg.qDim(), kd = cfg.kvDim(), ffn = cfg.ffnDim();
        for (int l = 0; l < L; l++) {
            attnNorm[l] = w.vector(TensorRole.ATTN_NORM, l, dim);
            ffnNorm[l] = w.vector(TensorRole.FFN_NORM, l, dim);
            wq[l] = w.matrix(TensorRole.ATTN_Q, l, qd, dim);
            wk[l] = w.matrix(TensorRole.ATTN_K, l, kd, dim);
            wv[l] = w.matrix(TensorRole.ATTN_V, l, kd, dim);
            wo[l] = w.matrix(TensorRole.ATTN_OUTPUT, l, dim, qd);
            gate[l] = w.matrix(TensorRole.FFN_GATE, l, ffn, dim);
            up[l] = w.matrix(TensorRole.FFN_UP, l, ffn, dim);
            down[l] = w.matrix(TensorRole.FFN_DOWN, l, dim, ffn);
            // 0 (none) unless the descriptor says the model has biases (a source may still answer 0).
            bq[l] = d.qkvBias() ? w.vector(TensorRole.ATTN_Q_BIAS, l, qd) : 0;
            bk[l] = d.qkvBias() ? w.vector(TensorRole.ATTN_K_BIAS, l, kd) : 0;
            bv[l] = d.qkvBias() ? w.vector(TensorRole.ATTN_V_BIAS, l, kd) : 0;
            // Qwen3's per-head Q/K RMSNorm weights (head size each), 0 for none.
            qNorm[l] = d.qkNorm() ? w.vector(TensorRole.ATTN_Q_NORM, l, cfg.headDim()) : 0;
            kNorm[l] = d.qkNorm() ? w.vector(TensorRole.ATTN_K_NORM, l, cfg.headDim()) : 0;
        }
        this.attention = new CudaAttention(dev);
        this.scratch = new Activations(dev, cfg);
    }

    public DecoderConfig config() {
        return c;
    }

    public CudaDevice device() {
        return dev;
    }

    public long weightBytes() {
        return weightBytes;
    }

    /**
     * One set of activation buffers for a chunk of rows (x, the normed input, q, k,
     * v, attention output in f32 and bf16, FFN, token ids, positions, lse, the last row's hidden state and logits),
     * grown on demand. A {@link CudaModel} owns one ({@link #forward}, {@link CudaStarQuery}); a ring host of
     * {@link CudaRing} owns its own, since ring phase 1 keeps every host's hidden state alive while all hosts
     * advance layer by layer together. Pointers are valid from {@link CudaModel#begin} (which may grow the buffers) until
     * the next begin. Not thread-safe; freed by {@link #close}.
     */
    static final class Activations implements AutoCloseable {
        private final CudaDevice dev;
        private final DecoderConfig c;
        private int cap;
        long x, xn, q, qb, k, v, att, attb, g, u, gb, tok, pos, lse, hidden, logits;

        Activations(CudaDevice dev, DecoderConfig c) {
            this.dev = dev;
            this.c = c;
        }

        void ensure(int n) {
            if (n <= cap) return;
            close();
            int nc = Math.max(n, 16);
            long d = c.dim(), qd = c.qDim(), kd = c.kvDim(), f = c.ffnDim();
            try {
                x = dev.alloc(KvSizes.bytes(nc, d, 4));
                xn = dev.alloc(KvSizes.bytes(nc, Math.max(d, qd), 2));
                q = dev.alloc(KvSizes.bytes(nc, qd, 4));
                qb = dev.alloc(KvSizes.bytes(nc, qd, 2));
                k = dev.alloc(KvSizes.bytes(nc, kd, 4));
                v = dev.alloc(KvSizes.bytes(nc, kd, 4));
                att = dev.alloc(KvSizes.bytes(nc, qd, 4));
                attb = dev.alloc(KvSizes.bytes(nc, qd, 2));
                g = dev.alloc(KvSizes.bytes(nc, f, 4));
                u = dev.alloc(KvSizes.bytes(nc, f, 4));
                gb = dev.alloc(KvSizes.bytes(nc, f, 2));
                tok = dev.alloc(4L * nc);
                pos = dev.alloc(4L * nc);
                lse = dev.alloc(KvSizes.bytes(nc, c.heads(), 4));
                hidden = dev.alloc(2 * d);
                logits = dev.alloc(4L * c.vocabSize());
            } catch (CudaException e) {
                close();
                throw new CudaException(String.format("the activations of %d rows at once (a prefill chunk or a ring host's share) need %s: %s",
                        nc, KvSizes.gib(bytesFor(c, nc)), e.getMessage()), e);
            }
            cap = nc;
        }

        /**
         * Device bytes of one set of activations for {@code rows} rows of model {@code c} (what {@link #ensure} allocates;
         * 64-bit: rows x ffn dim passes 2^31 elements at a quarter of a million rows of an 8K-wide FFN).
         */
        static long bytesFor(DecoderConfig c, long rows) {
            long d = c.dim(), qd = c.qDim(), kd = c.kvDim(), f = c.ffnDim();
            long perRow = 4 * d + 2 * Math.max(d, qd) + 4 * qd + 2 * qd + 2 * 4 * kd + 4 * qd + 2 * qd + 2 * 4 * f + 2 * f + 4 + 4 + 4L * c.heads();
            return Math.addExact(Math.multiplyExact(rows, perRow), 2 * d + 4L * c.vocabSize());
        }

        @Override
        public void close() {
            for (long p : new long[] {x, xn, q, qb, k, v, att, attb, g, u, gb, tok, pos, lse, hidden, logits}) dev.free(p);
            x = xn = q = qb = k = v = att = attb = g = u = gb = tok = pos = lse = hidden = logits = 0;
            cap = 0;
        }
    }

    /** A fresh, empty set of activations on this model's GPU (a ring host's own; the caller closes it). */
    Activations newActivations() {
        return new Activations(dev, c);
    }

    /**
     * Runs tokens[off .. off+n) at positions pos[off ..] through the model, appending their KV to
     * {@code caches} (one per layer) and attending causally (by position id) over everything in them.
     * Returns the logits of the last row when {@code wantLogits}, else null.
     */
    public float[] forward(int[] tokens, int[] positions, int off, int n, DeviceKv[] caches, boolean wantLogits) {
        Activations a = scratch;
        begin(a, tokens, positions, off, n);
        for (int l = 0; l < c.layers(); l++) {
            layerQkv(a, l, n);
            DeviceKv kv = caches[l];
            kv.appendDevice(a.k, a.v, a.pos, n, positions, off);
            // The chunk's queries are the cache's last n rows (appended just above): prefill attention,
            // written in bf16 for the output projection (cuDNN's fused attention where chosen and applicable).
            attention.attendPrefill(a.q, a.qb, a.pos, n, c.heads(), kv, a.att, a.attb, a.lse);
            layerOut(a, l, n);
        }
        if (!wantLogits) {
            dev.synchronize();
            return null;
        }
        return lastLogits(a, n);
    }

    // The pieces of forward(), also driven by CudaStarQuery (star phase 2 with the query host on this GPU) and
    // CudaRing (ring phase 1, each host with Activations of its own), whose attention is not over one cache but
    // merged from several hosts'. Between layerQkv and layerOut the caller fills attb (n rows of attention output
    // in bf16); the scratch pointers are valid from begin() on (begin may grow the scratch) until the next
    // begin(). The overloads without Activations work on the model's own set (the accessors below).

    /** Checks the ids, grows the scratch, uploads tokens and positions (to {@link #pos()}) and embeds them into x. */
    void begin(int[] tokens, int[] positions, int off, int n) {
        begin(scratch, tokens, positions, off, n);
    }

    void begin(Activations a, int[] tokens, int[] positions, int off, int n) {
        upload(a, tokens, positions, off, n);
        embed(a, n);
    }

    /** The host half of {@link #begin}: checks the ids, grows the scratch, uploads tokens and positions. */
    void upload(int[] tokens, int[] positions, int off, int n) {
        upload(scratch, tokens, positions, off, n);
    }

    private void upload(Activations a, int[] tokens, int[] positions, int off, int n) {
        dev.makeCurrent();
        for (int t = off; t < off + n; t++) {
            if (tokens[t] < 0 || tokens[t] >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary (0.." + (c.vocabSize() - 1) + ")");
            }
        }
        a.ensure(n);
        dev.copyIn(a.tok, tokens, off, n);
        dev.copyIn(a.pos, positions, off, n);
    }

    /** The device half of {@link #begin}: the uploaded tokens' embeddings into x (a launch only: capturable). */
    void embed(int n) {
        embed(scratch, n);
    }

    private void embed(Activations a, int n) {
        dev.launch("embed_bf16", n, 1, 1, 256, 0, embedding, a.tok, a.x, c.dim());
    }

    /** Layer l up to the attention: RMSNorm, Q/K/V (+ biases), Q/K norms (Qwen3), RoPE of q and k; leaves q, k, v (f32) and q in bf16 (qb) in scratch. */
    void layerQkv(int l, int n) {
        layerQkv(scratch, l, n);
    }

    void layerQkv(Activations a, int l, int n) {
        int dim = c.dim(), qd = c.qDim(), kd = c.kvDim();
        dev.launch("rmsnorm_bf16", n, 1, 1, 256, 0, a.x, attnNorm[l], a.xn, dim, normEps);
        dev.gemmBf16(wq[l], a.xn, a.q, qd, dim, n, false);
        dev.gemmBf16(wk[l], a.xn, a.k, kd, dim, n, false);
        dev.gemmBf16(wv[l], a.xn, a.v, kd, dim, n, false);
        if (bq[l] != 0) {
            dev.launch("add_bias", dev.gridFor((long) n * qd, 256), 1, 1, 256, 0, a.q, bq[l], n, qd);
            dev.launch("add_bias", dev.gridFor((long) n * kd, 256), 1, 1, 256, 0, a.k, bk[l], n, kd);
            dev.launch("add_bias", dev.gridFor((long) n * kd, 256), 1, 1, 256, 0, a.v, bv[l], n, kd);
        }
        if (qNorm[l] != 0) {
            // Per head, before RoPE: rows of one head's width.
            dev.launch("rmsnorm_rows_f32", n * c.heads(), 1, 1, 256, 0, a.q, qNorm[l], c.headDim(), normEps);
            dev.launch("rmsnorm_rows_f32", n * c.kvHeads(), 1, 1, 256, 0, a.k, kNorm[l], c.headDim(), normEps);
        }
        int pairs = rope.dim() / 2;
        // q also rounded to bf16 (qb) on the way: what cuDNN's prefill attention reads.
        dev.launch("rope_q_bf16", dev.gridFor((long) n * c.heads() * (c.headDim() / 2), 256), 1, 1, 256, 0, a.q, a.qb, a.pos, invFreq, n,
                c.heads(), c.headDim(), rope.dim(), rope.halves() ? 1 : 0);
        dev.launch("rope", dev.gridFor((long) n * c.kvHeads() * pairs, 256), 1, 1, 256, 0, a.k, a.pos, invFreq, n, c.kvHeads(),
                c.headDim(), rope.dim(), rope.halves() ? 1 : 0);
    }

    /** Layer l from the attention output on (attb, bf16): x += Wo . att, then the FFN block. */
    void layerOut(int l, int n) {
        layerOut(scratch, l, n);
    }

    void layerOut(Activations a, int l, int n) {
        int dim = c.dim(), qd = c.qDim(), ffn = c.ffnDim();
        dev.gemmBf16(wo[l], a.attb, a.x, dim, qd, n, true);           // x += Wo . att
        dev.launch("rmsnorm_bf16", n, 1, 1, 256, 0, a.x, ffnNorm[l], a.xn, dim, normEps);
        dev.gemmBf16(gate[l], a.xn, a.g, ffn, dim, n, false);
        dev.gemmBf16(up[l], a.xn, a.u, ffn, dim, n, false);
        dev.launch("swiglu_bf16", dev.gridFor((long) n * ffn, 256), 1, 1, 256, 0, a.g, a.u, a.gb, (long) n * ffn);
        dev.gemmBf16(down[l], a.gb, a.x, dim, ffn, n, true);          // x += down . swiglu
    }

    /** The logits of the last of n rows (final norm, output projection), downloaded (which waits for the GPU). */
    float[] lastLogits(int n) {
        return lastLogits(scratch, n);
    }

    float[] lastLogits(Activations a, int n) {
        logitsOnDevice(a, n);
        return dev.download(a.logits, c.vocabSize());
    }

    /** The last row's logits into the scratch's logits buffer (launches only: capturable); {@link #downloadLogits} fetches them. */
    void logitsOnDevice(int n) {
        logitsOnDevice(scratch, n);
    }

    private void logitsOnDevice(Activations a, int n) {
        int dim = c.dim();
        dev.launch("rmsnorm_bf16", 1, 1, 1, 256, 0, a.x + 4L * (n - 1) * dim, outputNorm, a.hidden, dim, normEps);
        dev.gemmBf16(output, a.hidden, a.logits, c.vocabSize(), dim, 1, false);
    }

    /** The logits {@link #logitsOnDevice} left, downloaded (which waits for the GPU). */
    float[] downloadLogits() {
        return dev.download(scratch.logits, c.vocabSize());
    }

    /** Device scratch of the current chunk: positions (int), q (f32, n x qDim, RoPE applied), att (f32), attb (bf16), lse (f32, n x heads). */
    long pos() {
        return scratch.pos;
    }

    long q() {
        return scratch.q;
    }

    long k() {
        return scratch.k;
    }

    long v() {
        return scratch.v;
    }

    long att() {
        return scratch.att;
    }

    long attb() {
        return scratch.attb;
    }

    long lse() {
        return scratch.lse;
    }

    /** Fresh per-layer caches for this model (bf16, read by the tensor-core attention kernel). */
    public DeviceKv[] newCaches(int capacity) {
        DeviceKv[] r = new DeviceKv[c.layers()];
        for (int l = 0; l < r.length; l++) r[l] = new DeviceKv(dev, c.kvHeads(), c.headDim(), capacity, true);
        return r;
    }

    public CudaAttention attention() {
        return attention;
    }

    @Override
    public void close() {
        scratch.close();
        attention.close();
        java.util.Set<Long> freed = new java.util.HashSet<>();
        for (long p : new long[] {embedding, output, outputNorm, invFreq}) if (freed.add(p)) dev.free(p);
        for (long[] a : new long[][] {attnNorm, ffnNorm, wq, wk, wv, wo, gate, up, down, bq, bk, bv}) {
            for (long p : a) if (p != 0 && freed.add(p)) dev.free(p);
        }
    }
}
