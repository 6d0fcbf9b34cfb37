package dev.starattn.testutil;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.DecoderWeights;
import dev.starattn.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * A random-weight Llama-family model held in memory as F32 tensors with GGUF names, for tests of
 * the forward pass and the attention strategies that need no file. The float arrays are kept so
 * that {@link ReferenceForward} can compute the same model in double precision.
 */
public final class InMemoryModel implements TensorSource {
    public final DecoderConfig config;
    public final Map<String, float[]> arrays = new LinkedHashMap<>();
    private final Map<String, TensorRef> refs = new LinkedHashMap<>();

    public InMemoryModel(DecoderConfig config, long seed) {
        this.config = config;
        Random r = new Random(seed);
        int d = config.dim();
        put("token_embd.weight", gauss(r, config.vocabSize() * d, 1.0), d, config.vocabSize());
        put("output_norm.weight", norm(r, d), d);
        if (!config.tiedOutput()) put("output.weight", gauss(r, config.vocabSize() * d, 1.0 / Math.sqrt(d)), d, config.vocabSize());
        for (int l = 0; l < config.layers(); l++) {
            String p = "blk." + l + ".";
            put(p + "attn_norm.weight", norm(r, d), d);
            put(p + "ffn_norm.weight", norm(r, d), d);
            put(p + "attn_q.weight", gauss(r, config.qDim() * d, 1.5 / Math.sqrt(d)), d, config.qDim());
            put(p + "attn_k.weight", gauss(r, config.kvDim() * d, 1.5 / Math.sqrt(d)), d, config.kvDim());
            put(p + "attn_v.weight", gauss(r, config.kvDim() * d, 1.0 / Math.sqrt(d)), d, config.kvDim());
            put(p + "attn_output.weight", gauss(r, d * config.qDim(), 0.5 / Math.sqrt(config.qDim())), config.qDim(), d);
            put(p + "ffn_gate.weight", gauss(r, config.ffnDim() * d, 1.0 / Math.sqrt(d)), d, config.ffnDim());
            put(p + "ffn_up.weight", gauss(r, config.ffnDim() * d, 1.0 / Math.sqrt(d)), d, config.ffnDim());
            put(p + "ffn_down.weight", gauss(r, d * config.ffnDim(), 0.5 / Math.sqrt(config.ffnDim())), config.ffnDim(), d);
            if (config.qkvBias()) {
                put(p + "attn_q.bias", gauss(r, config.qDim(), 0.1), config.qDim());
                put(p + "attn_k.bias", gauss(r, config.kvDim(), 0.1), config.kvDim());
                put(p + "attn_v.bias", gauss(r, config.kvDim(), 0.1), config.kvDim());
            }
        }
    }

    /** A small config: llama or qwen2 style, GQA. */
    public static DecoderConfig config(String arch, int dim, int layers, int heads, int kvHeads, int ffn, int vocab, int ctx) {
        int hd = dim / heads;
        boolean qwen = arch.equals("qwen2");
        return new DecoderConfig(arch, dim, layers, heads, kvHeads, hd, ffn, vocab, ctx, 1e-5f, 10000f, hd, qwen,
                DecoderConfig.defaultInvFreq(10000f, hd), qwen, false);
    }

    public DecoderModel model() {
        return new DecoderModel(config, DecoderWeights.load(config, this));
    }

    private void put(String name, float[] data, long... dims) {
        arrays.put(name, data);
        MemorySegment seg = Arena.ofAuto().allocate((long) data.length * 4, 64);
        ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < data.length; i++) seg.setAtIndex(f, i, data[i]);
        refs.put(name, new TensorRef(name, GgmlType.F32, dims, seg));
    }

    private static float[] gauss(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    private static float[] norm(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (1.0 + 0.1 * r.nextGaussian());
        return a;
    }

    @Override
    public Optional<TensorRef> find(String name) {
        return Optional.ofNullable(refs.get(name));
    }

    @Override
    public TensorRef require(String name) {
        TensorRef t = refs.get(name);
        if (t == null) throw new ModelFormatException("tensor '" + name + "' is missing");
        return t;
    }

    @Override
    public void close() {}
}
