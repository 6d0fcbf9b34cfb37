package dev.starattn.model;

import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.format.gguf.GgufWriter;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Writes a random-weight Llama-family GGUF (arch "llama" or "qwen2") of any shape, with llama.cpp's
 * tensor names and metadata keys and a small but valid SentencePiece-style tokenizer, so that
 * llama.cpp loads it. Weights are seeded and scaled so that logits are spread (a clear top-1).
 *
 * <pre>{@code
 * Path p = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128)
 *         .vocab(512).weightType(GgmlType.Q8_0).seed(7).write(tmp.resolve("m.gguf"));
 * }</pre>
 *
 * Weights follow GGUF conventions: a 2-D weight of {@code out x in} has dims {@code [in, out]}.
 * Q and K are random, so llama.cpp's Q/K permutation question does not arise. The original float
 * values (before quantization) are available from {@link #weights()} after writing.
 */
public final class RandomLlamaModel {
    /** Byte tokens start at this id; the tokenizer needs vocab >= {@link #MIN_TOKENIZER_VOCAB}. */
    public static final int FIRST_BYTE_TOKEN = 3;
    public static final int MIN_TOKENIZER_VOCAB = 3 + 256;

    private String arch = "llama";
    private int dim = 64, layers = 2, heads = 4, kvHeads = 2, ffnDim = 128, vocab = 512, contextLength = 2048;
    private float ropeBase = 10000f, rmsEps = 1e-5f;
    private boolean tied = false;
    private Boolean qkvBias = null;
    private GgmlType weightType = GgmlType.F32;
    private GgmlType embeddingType = null;
    private long seed = 1234;
    private boolean tokenizer = true;
    private int ggufVersion = 3;
    private String name = "starattn-random";
    private String chatTemplate = null;
    private final Map<String, float[]> weights = new LinkedHashMap<>();

    public RandomLlamaModel arch(String a) {
        if (!a.equals("llama") && !a.equals("qwen2")) throw new IllegalArgumentException("arch must be llama or qwen2: " + a);
        arch = a;
        return this;
    }

    public RandomLlamaModel dim(int v) { dim = v; return this; }
    public RandomLlamaModel layers(int v) { layers = v; return this; }
    public RandomLlamaModel heads(int v) { heads = v; return this; }
    public RandomLlamaModel kvHeads(int v) { kvHeads = v; return this; }
    public RandomLlamaModel ffnDim(int v) { ffnDim = v; return this; }
    public RandomLlamaModel vocab(int v) { vocab = v; return this; }
    public RandomLlamaModel contextLength(int v) { contextLength = v; return this; }
    public RandomLlamaModel ropeBase(float v) { ropeBase = v; return this; }
    public RandomLlamaModel rmsEps(float v) { rmsEps = v; return this; }
    /** Tied: no output.weight; the output projection is token_embd.weight. */
    public RandomLlamaModel tied(boolean v) { tied = v; return this; }
    /** Q/K/V biases (F32); default: true for qwen2, false for llama. */
    public RandomLlamaModel qkvBias(boolean v) { qkvBias = v; return this; }
    /** Type of every 2-D weight (token_embd and output too unless {@link #embeddingType} is set). */
    public RandomLlamaModel weightType(GgmlType t) { weightType = t; return this; }
    public RandomLlamaModel embeddingType(GgmlType t) { embeddingType = t; return this; }
    public RandomLlamaModel seed(long s) { seed = s; return this; }
    /** Whether to write tokenizer metadata (default true; needs vocab >= 259). */
    public RandomLlamaModel tokenizer(boolean v) { tokenizer = v; return this; }
    public RandomLlamaModel ggufVersion(int v) { ggufVersion = v; return this; }
    public RandomLlamaModel name(String v) { name = v; return this; }
    /** A Jinja chat template written as {@code tokenizer.chat_template} (default: none). */
    public RandomLlamaModel chatTemplate(String v) { chatTemplate = v; return this; }

    public String arch() { return arch; }
    public int dim() { return dim; }
    public int layers() { return layers; }
    public int heads() { return heads; }
    public int kvHeads() { return kvHeads; }
    public int headDim() { return dim / heads; }
    public int ffnDim() { return ffnDim; }
    public int vocab() { return vocab; }
    public int contextLength() { return contextLength; }
    public float ropeBase() { return ropeBase; }
    public float rmsEps() { return rmsEps; }
    public boolean tied() { return tied; }
    public boolean hasQkvBias() { return qkvBias != null ? qkvBias : arch.equals("qwen2"); }

    /** The float weights written by the last {@link #write} (before quantization), by GGUF name. */
    public Map<String, float[]> weights() { return weights; }

    /** The tokenizer vocabulary this builder writes for {@code vocab} tokens. */
    public static String[] vocabulary(int vocab) {
        List<String> t = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) t.add(String.format("<0x%02X>", b));
        Set<String> normal = new LinkedHashSet<>();
        normal.add("\u2581");
        for (char c = '!'; c <= '~'; c++) {
            normal.add(String.valueOf(c));
            normal.add("\u2581" + c);
        }
        String letters = "etaoinshrdlucmfwypvbgkjqxz";
        outer:
        for (int i = 0; i < letters.length(); i++) {
            for (int j = 0; j < letters.length(); j++) {
                if (t.size() + normal.size() >= vocab) break outer;
                String s = "" + letters.charAt(i) + letters.charAt(j);
                normal.add(s);
                normal.add("\u2581" + s);
            }
        }
        for (String s : normal) t.add(s);
        for (int k = 0; t.size() < vocab; k++) t.add("\u2581w" + k);
        return t.subList(0, vocab).toArray(String[]::new);
    }

    private void validate() {
        if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ffnDim <= 0 || vocab <= 0) {
            throw new IllegalArgumentException("all sizes must be positive");
        }
        if (dim % heads != 0) throw new IllegalArgumentException("dim " + dim + " is not a multiple of heads " + heads);
        if (heads % kvHeads != 0) throw new IllegalArgumentException("heads " + heads + " is not a multiple of kvHeads " + kvHeads);
        if ((dim / heads) % 2 != 0) throw new IllegalArgumentException("head dim must be even for RoPE");
        for (int cols : new int[] {dim, ffnDim}) {
            for (GgmlType t : new GgmlType[] {weightType, embType()}) {
                if (cols % t.blockSize != 0) {
                    throw new IllegalArgumentException(t + " needs rows that are a multiple of " + t.blockSize + "; dim=" + dim + ", ffnDim=" + ffnDim);
                }
            }
        }
        if (tokenizer && vocab < MIN_TOKENIZER_VOCAB) {
            throw new IllegalArgumentException("the built-in tokenizer needs vocab >= " + MIN_TOKENIZER_VOCAB + " (got " + vocab + "); call tokenizer(false) for a smaller vocabulary");
        }
    }

    private GgmlType embType() {
        return embeddingType != null ? embeddingType : weightType;
    }

    public Path write(Path path) {
        return build().write(path);
    }

    /** The writer with everything added, for tests that want to add or change entries. */
    public GgufWriter build() {
        validate();
        weights.clear();
        Random rnd = new Random(seed);
        GgufWriter w = new GgufWriter().version(ggufVersion);
        String a = arch;
        w.put("general.architecture", a);
        w.put("general.name", name);
        w.put("general.file_type", GgufValueType.UINT32, (long) fileType());
        w.put(a + ".context_length", GgufValueType.UINT32, (long) contextLength);
        w.put(a + ".embedding_length", GgufValueType.UINT32, (long) dim);
        w.put(a + ".block_count", GgufValueType.UINT32, (long) layers);
        w.put(a + ".feed_forward_length", GgufValueType.UINT32, (long) ffnDim);
        w.put(a + ".attention.head_count", GgufValueType.UINT32, (long) heads);
        w.put(a + ".attention.head_count_kv", GgufValueType.UINT32, (long) kvHeads);
        w.put(a + ".rope.freq_base", GgufValueType.FLOAT32, ropeBase);
        w.put(a + ".attention.layer_norm_rms_epsilon", GgufValueType.FLOAT32, rmsEps);
        w.put(a + ".rope.dimension_count", GgufValueType.UINT32, (long) (dim / heads));
        if (tokenizer) addTokenizer(w);

        int kvDim = kvHeads * (dim / heads);
        // Embedding rows have RMS ~1 (RMSNorm rescales anyway); linear layers ~1/sqrt(fan_in);
        // the output projection is scaled up so that logits spread by a few units.
        double embStd = tied ? 4.0 / Math.sqrt(dim) : 1.0;
        matrix(w, rnd, "token_embd.weight", dim, vocab, embStd, embType());
        vector(w, rnd, "output_norm.weight", dim, 1.0, 0.1);
        if (!tied) matrix(w, rnd, "output.weight", dim, vocab, 4.0 / Math.sqrt(dim), embType());
        for (int l = 0; l < layers; l++) {
            String p = "blk." + l + ".";
            vector(w, rnd, p + "attn_norm.weight", dim, 1.0, 0.1);
            matrix(w, rnd, p + "attn_q.weight", dim, dim, 2.0 / Math.sqrt(dim), weightType);
            matrix(w, rnd, p + "attn_k.weight", dim, kvDim, 2.0 / Math.sqrt(dim), weightType);
            matrix(w, rnd, p + "attn_v.weight", dim, kvDim, 1.0 / Math.sqrt(dim), weightType);
            if (hasQkvBias()) {
                vector(w, rnd, p + "attn_q.bias", dim, 0.0, 0.1);
                vector(w, rnd, p + "attn_k.bias", kvDim, 0.0, 0.1);
                vector(w, rnd, p + "attn_v.bias", kvDim, 0.0, 0.1);
            }
            matrix(w, rnd, p + "attn_output.weight", dim, dim, 1.0 / Math.sqrt(dim), weightType);
            vector(w, rnd, p + "ffn_norm.weight", dim, 1.0, 0.1);
            matrix(w, rnd, p + "ffn_gate.weight", dim, ffnDim, 1.0 / Math.sqrt(dim), weightType);
            matrix(w, rnd, p + "ffn_up.weight", dim, ffnDim, 1.0 / Math.sqrt(dim), weightType);
            matrix(w, rnd, p + "ffn_down.weight", ffnDim, dim, 1.0 / Math.sqrt(ffnDim), weightType);
        }
        return w;
    }

    /** llama.cpp's LLAMA_FTYPE for the weight type (informational). */
    private int fileType() {
        return switch (weightType) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case Q4_K -> 15;
            case Q6_K -> 18;
            case BF16 -> 32;
        };
    }

    private void matrix(GgufWriter w, Random rnd, String name, int cols, int rows, double std, GgmlType type) {
        float[] x = new float[Math.multiplyExact(cols, rows)];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * std);
        weights.put(name, x);
        w.addTensor(name, type, new long[] {cols, rows}, Quantizers.quantize(type, x));
    }

    private void vector(GgufWriter w, Random rnd, String name, int n, double mean, double std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (mean + rnd.nextGaussian() * std);
        weights.put(name, x);
        w.addTensor(name, GgmlType.F32, new long[] {n}, Quantizers.quantize(GgmlType.F32, x));
    }

    private void addTokenizer(GgufWriter w) {
        putVocabulary(w, vocab);
        w.put("tokenizer.ggml.add_bos_token", true);
        w.put("tokenizer.ggml.add_eos_token", false);
        if (chatTemplate != null) w.put("tokenizer.chat_template", chatTemplate);
    }

    /**
     * The SentencePiece vocabulary of {@link #vocabulary} into {@code w}: unknown, control and byte tokens, then
     * normal ones, earlier preferred; bos 1, eos 2, unknown 0 (also for the GGUF family fixtures' tests).
     */
    public static void putVocabulary(GgufWriter w, int vocab) {
        String[] tokens = vocabulary(vocab);
        float[] scores = new float[vocab];
        int[] types = new int[vocab];
        for (int i = 0; i < vocab; i++) {
            if (i == 0) types[i] = 2;                      // UNKNOWN
            else if (i < FIRST_BYTE_TOKEN) types[i] = 3;   // CONTROL
            else if (i < MIN_TOKENIZER_VOCAB) types[i] = 6; // BYTE
            else {
                types[i] = 1;                              // NORMAL
                scores[i] = -(i - MIN_TOKENIZER_VOCAB);    // earlier = preferred
            }
        }
        w.put("tokenizer.ggml.model", "llama");
        w.put("tokenizer.ggml.tokens", tokens);
        w.put("tokenizer.ggml.scores", scores);
        w.put("tokenizer.ggml.token_type", types);
        w.put("tokenizer.ggml.bos_token_id", GgufValueType.UINT32, 1L);
        w.put("tokenizer.ggml.eos_token_id", GgufValueType.UINT32, 2L);
        w.put("tokenizer.ggml.unknown_token_id", GgufValueType.UINT32, 0L);
    }
}
