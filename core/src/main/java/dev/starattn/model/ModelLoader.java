package dev.starattn.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.tokenizer.IdsOnlyTokenizer;
import dev.starattn.tokenizer.Tokenizer;
import dev.starattn.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Opens a model: a GGUF file, or a Hugging Face directory (config.json, safetensors, tokenizer.json).
 * Reads the config, checks every tensor's shape, builds the tokenizer. Weights stay mapped.
 */
public final class ModelLoader {
    private ModelLoader() {}

    private static final Set<String> ARCHITECTURES = Set.of("llama", "mistral", "qwen2");

    public static LoadedModel load(Path path) {
        return load(path, s -> {});
    }

    public static LoadedModel load(Path path, Consumer<String> progress) {
        dev.starattn.format.MappedFiles.requireFileOrDirectory(path, "model file");
        if (!Files.exists(path)) throw new ModelFormatException("model file " + path + " does not exist");
        if (Files.isDirectory(path)) return loadHf(path, progress);
        return loadGguf(path, progress);
    }

    private static LoadedModel loadGguf(Path path, Consumer<String> progress) {
        progress.accept("mapping " + path);
        GgufFile f = GgufFile.open(path);
        try {
            String arch = f.getString("general.architecture");
            if (!ARCHITECTURES.contains(arch)) {
                throw new ModelFormatException(path + " holds a '" + arch + "' model; starattn runs llama, mistral and qwen2 models");
            }
            int dim = f.getInt(arch + ".embedding_length");
            int heads = f.getInt(arch + ".attention.head_count");
            int kvHeads = f.getInt(arch + ".attention.head_count_kv", heads);
            int headDim = f.getInt(arch + ".attention.key_length", dim / heads);
            int ropeDim = f.getInt(arch + ".rope.dimension_count", headDim);
            float base = f.getFloat(arch + ".rope.freq_base", 10000f);
            TensorRef embd = f.require("token_embd.weight");
            checkPositive(path, arch + ".embedding_length", dim);
            checkPositive(path, arch + ".attention.head_count", heads);
            if (kvHeads <= 0 || heads % kvHeads != 0) {
                throw new ModelFormatException(path + ": " + heads + " attention heads cannot be grouped over " + kvHeads + " kv heads");
            }
            float[] inv = LlamaConfig.defaultInvFreq(base, ropeDim);
            Optional<TensorRef> freqs = f.find("rope_freqs.weight");
            if (freqs.isPresent()) {
                // Llama 3.1 GGUFs store the rope scaling as per-frequency divisors.
                float[] factors = readVector(freqs.get(), inv.length, path);
                for (int i = 0; i < inv.length; i++) inv[i] /= factors[i];
            }
            boolean qwen = arch.equals("qwen2");
            LlamaConfig c = new LlamaConfig(arch, dim, f.getInt(arch + ".block_count"), heads, kvHeads, headDim,
                    f.getInt(arch + ".feed_forward_length"), embd.rows(), f.getInt(arch + ".context_length", 0),
                    f.getFloat(arch + ".attention.layer_norm_rms_epsilon", 1e-5f), base, ropeDim, qwen, inv,
                    qwen || f.find("blk.0.attn_q.bias").isPresent(), f.find("output.weight").isEmpty());
            progress.accept("checking tensors of " + c);
            LlamaModel model = new LlamaModel(c, LlamaWeights.load(c, f));
            Tokenizer tok = Tokenizers.fromGgufMetadata(f.metadata());
            String fp = sha256(f.segment().asSlice(0, f.dataOffset()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            PromptTemplate template = tokenHasName(tok, "<|start_header_id|>") ? PromptTemplate.LLAMA3 : PromptTemplate.BASE;
            return new LoadedModel(path, "gguf", c, model, tok, fp, template, f);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private static LoadedModel loadHf(Path dir, Consumer<String> progress) {
        progress.accept("mapping safetensors in " + dir);
        HfModelDir m = HfModelDir.open(dir);
        try {
            JsonNode j = m.config();
            String type = j.path("model_type").asText("llama");
            if (!ARCHITECTURES.contains(type)) {
                throw new ModelFormatException(dir + " holds a '" + type + "' model; starattn runs llama, mistral and qwen2 models");
            }
            int dim = need(j, "hidden_size", dir);
            int heads = need(j, "num_attention_heads", dir);
            int kvHeads = j.path("num_key_value_heads").asInt(heads);
            int headDim = j.hasNonNull("head_dim") ? j.get("head_dim").asInt() : dim / heads;
            float base = (float) j.path("rope_theta").asDouble(10000.0);
            float[] inv = LlamaConfig.defaultInvFreq(base, headDim);
            JsonNode rs = j.path("rope_scaling");
            if (rs.isObject()) {
                String rt = rs.path("rope_type").asText(rs.path("type").asText(""));
                if (rt.equals("llama3")) {
                    inv = LlamaConfig.llama3ScaledInvFreq(inv, rs.path("factor").asDouble(8),
                            rs.path("low_freq_factor").asDouble(1), rs.path("high_freq_factor").asDouble(4),
                            rs.path("original_max_position_embeddings").asDouble(8192));
                } else if (!rt.isEmpty() && !rt.equals("default")) {
                    throw new ModelFormatException(dir + "/config.json asks for rope scaling '" + rt + "', which starattn does not support");
                }
            }
            boolean tied = j.path("tie_word_embeddings").asBoolean(false) || m.find("output.weight").isEmpty();
            LlamaConfig c = new LlamaConfig(type, dim, need(j, "num_hidden_layers", dir), heads, kvHeads, headDim,
                    need(j, "intermediate_size", dir), m.require("token_embd.weight").rows(),
                    j.path("max_position_embeddings").asInt(0), (float) j.path("rms_norm_eps").asDouble(1e-5), base,
                    headDim, true, inv, type.equals("qwen2") || j.path("attention_bias").asBoolean(false), tied);
            LlamaModel model = new LlamaModel(c, LlamaWeights.load(c, m));
            // Without tokenizer.json the model still runs on prompts given as token ids.
            Tokenizer tok = m.tokenizerJson() == null
                    ? new IdsOnlyTokenizer(dir.toString(), c.vocabSize(), firstId(j.get("bos_token_id")), firstId(j.get("eos_token_id")))
                    : Tokenizers.fromTokenizerJson(m.tokenizerJson(), m.tokenizerConfigJson());
            StringBuilder table = new StringBuilder(j.toString());
            for (TensorRef t : m.tensors()) table.append(t.name()).append(t.type()).append(java.util.Arrays.toString(t.dims()));
            PromptTemplate template = tokenHasName(tok, "<|start_header_id|>") ? PromptTemplate.LLAMA3 : PromptTemplate.BASE;
            return new LoadedModel(dir, "safetensors", c, model, tok, sha256(table.toString().getBytes()), template, m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** A config's bos/eos id: a number, the first of a list, or -1. */
    private static int firstId(JsonNode n) {
        if (n == null || n.isNull()) return -1;
        if (n.isArray()) return n.isEmpty() ? -1 : n.get(0).asInt(-1);
        return n.canConvertToInt() ? n.asInt() : -1;
    }

    private static boolean tokenHasName(Tokenizer t, String name) {
        if (t instanceof IdsOnlyTokenizer) return false;
        int[] ids = t.encodeWithSpecialTokens(name);
        return ids.length == 1;
    }

    private static int need(JsonNode j, String key, Path dir) {
        if (!j.hasNonNull(key) || !j.get(key).canConvertToInt() || j.get(key).asInt() <= 0) {
            throw new ModelFormatException(dir + "/config.json lacks a positive integer '" + key + "'");
        }
        return j.get(key).asInt();
    }

    private static void checkPositive(Path p, String key, int v) {
        if (v <= 0) throw new ModelFormatException(p + ": metadata '" + key + "' must be positive, found " + v);
    }

    private static float[] readVector(TensorRef t, int n, Path p) {
        if (t.elements() != n) {
            throw new ModelFormatException(p + ": tensor '" + t.name() + "' has " + t.elements() + " elements, expected " + n);
        }
        float[] v = new float[n];
        dev.starattn.tensor.WeightMatrices.of(t.type(), t.data(), 1, n).dequantizeRow(0, v, 0);
        return v;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
