package dev.starattn.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.model.family.Architecture;
import dev.starattn.model.family.Families;
import dev.starattn.model.family.GemmaFamilies;
import dev.starattn.model.family.Family;
import dev.starattn.model.family.RopeSpec;
import dev.starattn.model.family.TensorNames;
import dev.starattn.model.family.TensorRole;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a model file says about the model, in one format-neutral form, before any of it is trusted.
 * The GGUF and Hugging Face readers only copy raw values here, each with the name of the field it
 * came from; {@link #validate} is the one place that checks them and builds a {@link DecoderConfig}
 * with its {@link Architecture} descriptor. Which families exist, and what differs between them,
 * comes from the {@link Families} registry.
 * Anything that changes the model's math and that starattn does not implement is refused: a model
 * starattn does not fully understand never runs.
 */
public final class ModelSpec {
    /** The fields the engine understands, whatever the file format calls them. */
    public enum Key {
        ARCHITECTURE, DIM, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VALUE_DIM, FFN, VOCAB, CONTEXT, RMS_EPS,
        ROPE_BASE, ROPE_DIM, ROPE_TYPE, ROPE_FACTOR, ROPE_LOW_FREQ, ROPE_HIGH_FREQ, ROPE_ORIGINAL_CONTEXT,
        PARTIAL_ROTARY, HIDDEN_ACT, ATTENTION_BIAS, MLP_BIAS, SLIDING_WINDOW, USE_SLIDING_WINDOW,
        ATTN_SOFTCAP, FINAL_SOFTCAP, TIED, BOS, EOS, QUERY_PRE_ATTN_SCALAR, ROPE_LOCAL_BASE, SLIDING_PATTERN, LAYER_TYPES
    }

    /** A raw value with the name of its field in the file; {@code value} null means absent (or JSON null). */
    public record Entry(String field, Object value) {}

    /** Two fields of one file that disagree; {@code text} completes the sentence after the field's name. */
    private record Conflict(String text) {}

    private final String file;
    private final Map<Key, Entry> entries = new EnumMap<>(Key.class);
    /** Fields present in the file that change the math in a way starattn does not implement. */
    private final List<Entry> unsupported = new ArrayList<>();
    /** Q and K rotate by halves (Hugging Face) rather than by adjacent pairs (GGUF llama, whose converter permuted them). */
    private final boolean halvesLayout;
    /** What field names are relative to: "" (the file's top level) or the object that holds a wrapped text model's config. */
    private final String fieldPrefix;

    private ModelSpec(String file, boolean halvesLayout, String fieldPrefix) {
        this.file = file;
        this.halvesLayout = halvesLayout;
        this.fieldPrefix = fieldPrefix;
    }

    public String file() {
        return file;
    }

    public Optional<Entry> entry(Key k) {
        return Optional.ofNullable(entries.get(k));
    }

    private void put(Key k, String field, Object value) {
        entries.put(k, entry(field, value));
    }

    /** An entry of a field named relative to {@link #fieldPrefix}. */
    private Entry entry(String field, Object value) {
        return new Entry(fieldPrefix + field, value);
    }

    // ---------------------------------------------------------------- GGUF

    /**
     * {@code {arch}.*} keys starattn reads, by suffix. Any other key under the architecture's prefix is
     * refused: GGUF keys under it describe the network, and one we do not know may change it.
     */
    private static final Map<String, Key> GGUF_KEYS = Map.ofEntries(
            Map.entry("embedding_length", Key.DIM),
            Map.entry("block_count", Key.LAYERS),
            Map.entry("attention.head_count", Key.HEADS),
            Map.entry("attention.head_count_kv", Key.KV_HEADS),
            Map.entry("attention.key_length", Key.HEAD_DIM),
            Map.entry("attention.value_length", Key.VALUE_DIM),
            Map.entry("feed_forward_length", Key.FFN),
            Map.entry("vocab_size", Key.VOCAB),
            Map.entry("context_length", Key.CONTEXT),
            Map.entry("attention.layer_norm_rms_epsilon", Key.RMS_EPS),
            Map.entry("rope.freq_base", Key.ROPE_BASE),
            Map.entry("rope.dimension_count", Key.ROPE_DIM),
            Map.entry("rope.scaling.type", Key.ROPE_TYPE),
            Map.entry("rope.scaling.factor", Key.ROPE_FACTOR),
            Map.entry("attention.sliding_window", Key.SLIDING_WINDOW),
            Map.entry("attention.sliding_window_pattern", Key.SLIDING_PATTERN),
            Map.entry("rope.freq_base_swa", Key.ROPE_LOCAL_BASE),
            Map.entry("attn_logit_softcapping", Key.ATTN_SOFTCAP),
            Map.entry("final_logit_softcapping", Key.FINAL_SOFTCAP));

    /** Keys under {@code {arch}.} that describe the model without changing its math. */
    private static final Set<String> GGUF_INFORMATIONAL = Set.of(
            "rope.scaling.finetuned", "rope.scaling.original_context_length", "tensor_data_layout");

    /** Keys under {@code {arch}.} that are fine at zero (an absent feature) and refused otherwise. */
    private static final Set<String> GGUF_ZERO_OK = Set.of("expert_count", "expert_used_count");

    public static ModelSpec fromGguf(GgufFile f) {
        ModelSpec s = new ModelSpec(f.path().toString(), false, "");
        Object arch = f.metadata().get("general.architecture");
        s.put(Key.ARCHITECTURE, "general.architecture", arch);
        if (!(arch instanceof String a) || Families.forGgufArchitecture(a).isEmpty()) return s;   // validate() refuses it
        String prefix = a + ".";
        for (Map.Entry<String, Object> e : f.metadata().entrySet()) {
            String key = e.getKey();
            if (!key.startsWith(prefix)) continue;
            String suffix = key.substring(prefix.length());
            Key k = GGUF_KEYS.get(suffix);
            Object v = e.getValue();
            if (v instanceof Long l && l < 0 && f.valueType(key).orElse(null) == GgufValueType.UINT64) {
                v = new BigInteger(Long.toUnsignedString(l));
            }
            if (k != null) {
                s.put(k, key, v);
            } else if (GGUF_ZERO_OK.contains(suffix)) {
                if (!(v instanceof Number n && n.longValue() == 0)) s.unsupported.add(new Entry(key, v));
            } else if (!GGUF_INFORMATIONAL.contains(suffix)) {
                s.unsupported.add(new Entry(key, v));
            }
        }
        s.put(Key.BOS, "tokenizer.ggml.bos_token_id", f.metadata().get("tokenizer.ggml.bos_token_id"));
        s.put(Key.EOS, "tokenizer.ggml.eos_token_id", f.metadata().get("tokenizer.ggml.eos_token_id"));
        return s;
    }

    // ---------------------------------------------------------------- Hugging Face

    /**
     * config.json fields that change the math of a Llama-family model and that starattn does not
     * implement; present and not null, each is refused (the dedicated fields above have their own checks).
     */
    private static final List<String> HF_UNSUPPORTED = List.of(
            "use_qk_norm", "qk_norm", "qk_layernorm", "num_experts", "num_local_experts", "n_routed_experts",
            "quantization_config", "use_bidirectional_attention", "embedding_multiplier", "logits_scaling",
            "residual_multiplier", "attention_multiplier", "no_rope_layers", "use_parallel_residual", "clip_qkv",
            "parallel_attn", "alibi", "layer_norm_eps", "rotary_pct", "attn_temperature_tuning", "cross_attention_layers");

    public static ModelSpec fromHf(HfModelDir m) {
        Path cfg = m.dir().resolve("config.json");
        // A wrapped text model (Gemma 3 4B and up: a vision tower beside it) is read from its nested config.
        ModelSpec s = new ModelSpec(cfg.toString(), true, m.textConfigPrefix());
        JsonNode j = m.textConfig();
        s.put(Key.ARCHITECTURE, "model_type", j.has("model_type") ? scalar(j.get("model_type")) : "llama");
        s.hf(j, Key.DIM, "hidden_size");
        s.hf(j, Key.LAYERS, "num_hidden_layers");
        s.hf(j, Key.HEADS, "num_attention_heads");
        s.hf(j, Key.KV_HEADS, "num_key_value_heads");
        s.hf(j, Key.HEAD_DIM, "head_dim");
        s.hf(j, Key.FFN, "intermediate_size");
        s.hf(j, Key.VOCAB, "vocab_size");
        s.hf(j, Key.CONTEXT, "max_position_embeddings");
        s.hf(j, Key.RMS_EPS, "rms_norm_eps");
        s.hf(j, Key.HIDDEN_ACT, j.hasNonNull("hidden_activation") ? "hidden_activation" : "hidden_act");
        s.hf(j, Key.QUERY_PRE_ATTN_SCALAR, "query_pre_attn_scalar");
        s.hf(j, Key.ROPE_LOCAL_BASE, "rope_local_base_freq");
        s.hf(j, Key.SLIDING_PATTERN, "sliding_window_pattern");
        s.hf(j, Key.ATTENTION_BIAS, "attention_bias");
        s.hf(j, Key.MLP_BIAS, "mlp_bias");
        s.hf(j, Key.SLIDING_WINDOW, "sliding_window");
        s.hf(j, Key.USE_SLIDING_WINDOW, "use_sliding_window");
        s.hf(j, Key.ATTN_SOFTCAP, "attn_logit_softcapping");
        s.hf(j, Key.FINAL_SOFTCAP, "final_logit_softcapping");
        s.hf(j, Key.PARTIAL_ROTARY, "partial_rotary_factor");
        s.hf(j, Key.TIED, "tie_word_embeddings");
        s.hf(j, Key.BOS, "bos_token_id");
        s.hf(j, Key.EOS, "eos_token_id");
        for (String k : HF_UNSUPPORTED) {
            if (j.hasNonNull(k) && !isOff(j.get(k))) s.unsupported.add(s.entry(k, scalar(j.get(k))));
            // The outer config of a wrapper holds what applies to every part (quantization_config).
            if (j != m.config() && m.config().hasNonNull(k) && !isOff(m.config().get(k))) s.unsupported.add(new Entry(k, scalar(m.config().get(k))));
        }
        JsonNode layerTypes = j.get("layer_types");
        if (layerTypes != null && layerTypes.isArray()) {
            List<Architecture.LayerType> types = new ArrayList<>();
            for (JsonNode t : layerTypes) {
                String name = t.asText();
                if (name.equals("sliding_attention")) types.add(Architecture.LayerType.SLIDING_ATTENTION);
                else if (name.equals("full_attention")) types.add(Architecture.LayerType.FULL_ATTENTION);
                else s.unsupported.add(s.entry("layer_types", t.asText()));
            }
            s.put(Key.LAYER_TYPES, "layer_types", types);
        }
        s.hfRope(j);
        return s;
    }

    private static boolean isOff(JsonNode n) {
        return (n.isBoolean() && !n.asBoolean()) || (n.isNumber() && n.asDouble() == 0) || (n.isArray() && n.isEmpty());
    }

    private void hf(JsonNode j, Key k, String field) {
        if (j.has(field)) put(k, field, scalar(j.get(field)));
    }

    private void hfRope(JsonNode j) {
        JsonNode params = j.get("rope_parameters");
        String where = "rope_parameters";
        if (params != null && params.isObject() && !params.has("rope_type") && !params.has("rope_theta") && !params.has("type")) {
            // One set per layer type (transformers 5 for models with several attention kinds): the full
            // layers' below, the sliding layers' as a base of their own (an unscaled RoPE).
            JsonNode first = null;
            String firstName = null;
            for (Iterator<Map.Entry<String, JsonNode>> it = params.properties().iterator(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (first == null) {
                    first = e.getValue();
                    firstName = e.getKey();
                }
                if (e.getKey().equals("sliding_attention") && params.has("full_attention")) {
                    JsonNode local = e.getValue();
                    if (!ropeTypeOf(local).equals("default")) {
                        unsupported.add(entry("rope_parameters.sliding_attention", new Conflict("scales the sliding layers' RoPE ("
                                + Printable.quote(ropeTypeOf(local)) + "), which starattn does not implement")));
                    }
                    if (local.has("rope_theta")) put(Key.ROPE_LOCAL_BASE, "rope_parameters.sliding_attention.rope_theta", scalar(local.get("rope_theta")));
                } else if (!e.getKey().equals("full_attention") && !first.equals(e.getValue())) {
                    unsupported.add(entry("rope_parameters." + e.getKey(), new Conflict("gives a RoPE different from " + fieldPrefix + "rope_parameters." + firstName
                            + "'s, and starattn knows no such layer kind")));
                }
            }
            JsonNode full = params.get("full_attention");
            if (full != null) {
                params = full;
                where = "rope_parameters.full_attention";
            } else if (first != null) {
                params = first;
                where = "rope_parameters." + firstName;
            }
        }
        JsonNode scaling = j.get("rope_scaling");
        if (params != null && !params.isNull() && !params.isObject()) {
            put(Key.ROPE_TYPE, "rope_parameters", scalar(params));
            return;
        }
        if (scaling != null && !scaling.isNull() && !scaling.isObject()) {
            put(Key.ROPE_TYPE, "rope_scaling", scalar(scaling));
            return;
        }
        JsonNode theta = j.get("rope_theta");
        if (params != null && params.has("rope_theta")) {
            if (theta != null && !theta.isNull() && !sameNumber(theta, params.get("rope_theta"))) {
                unsupported.add(entry("rope_theta", new Conflict("differs from " + fieldPrefix + where + ".rope_theta; starattn will not guess which one holds")));
            }
            put(Key.ROPE_BASE, where + ".rope_theta", scalar(params.get("rope_theta")));
        } else if (theta != null) {
            put(Key.ROPE_BASE, "rope_theta", scalar(theta));
        }
        JsonNode rs = params != null && !params.isNull() ? params : scaling;
        String rsName = params != null && !params.isNull() ? where : "rope_scaling";
        if (rs == null || rs.isNull()) return;
        if (params != null && !params.isNull() && scaling != null && scaling.isObject()) {
            String a = ropeTypeOf(params), b = ropeTypeOf(scaling);
            if (!a.equals(b)) unsupported.add(entry("rope_scaling", new Conflict("says rope type " + Printable.quote(b) + " while " + fieldPrefix + where + " says "
                    + Printable.quote(a) + "; starattn will not guess which one holds")));
        }
        String typeField = rs.has("rope_type") ? "rope_type" : "type";
        if (rs.has(typeField)) put(Key.ROPE_TYPE, rsName + "." + typeField, scalar(rs.get(typeField)));
        if (rs.has("factor")) put(Key.ROPE_FACTOR, rsName + ".factor", scalar(rs.get("factor")));
        if (rs.has("low_freq_factor")) put(Key.ROPE_LOW_FREQ, rsName + ".low_freq_factor", scalar(rs.get("low_freq_factor")));
        if (rs.has("high_freq_factor")) put(Key.ROPE_HIGH_FREQ, rsName + ".high_freq_factor", scalar(rs.get("high_freq_factor")));
        if (rs.has("original_max_position_embeddings")) {
            put(Key.ROPE_ORIGINAL_CONTEXT, rsName + ".original_max_position_embeddings", scalar(rs.get("original_max_position_embeddings")));
        }
        if (rs.has("partial_rotary_factor")) put(Key.PARTIAL_ROTARY, rsName + ".partial_rotary_factor", scalar(rs.get("partial_rotary_factor")));
    }

    private static boolean sameNumber(JsonNode a, JsonNode b) {
        return a.isNumber() && b.isNumber() ? a.doubleValue() == b.doubleValue() : a.equals(b);
    }

    private static String ropeTypeOf(JsonNode n) {
        return n.path("rope_type").asText(n.path("type").asText("default"));
    }

    /** A JSON value as Java: Integer/Long/BigInteger, Double, String, Boolean, null; arrays and objects as JsonNode. */
    private static Object scalar(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isIntegralNumber()) return n.numberValue() instanceof BigInteger b ? b : n.longValue();
        if (n.isNumber()) return n.doubleValue();
        if (n.isTextual()) return n.asText();
        if (n.isBoolean()) return n.asBoolean();
        return n;
    }

    // ---------------------------------------------------------------- validation

    private ModelFormatException bad(Entry e, String problem) {
        return new ModelFormatException(file + ": " + Printable.escape(e.field()) + " is " + show(e.value()) + ", " + problem + ".");
    }

    private static String show(Object v) {
        if (v instanceof String s) return Printable.quote(s);
        if (v instanceof JsonNode n) return Printable.escape(n.toString());
        if (v != null && v.getClass().isArray()) return "an array";
        return Printable.escape(String.valueOf(v));
    }

    private Entry present(Key k) {
        Entry e = entries.get(k);
        return e == null || e.value() == null ? null : e;
    }

    private ModelFormatException missing(Key k, String fieldName) {
        return new ModelFormatException(file + " lacks " + fieldName + ", which starattn needs.");
    }

    /** A required positive integer. */
    private int positive(Key k, String fieldName) {
        Entry e = present(k);
        if (e == null) throw missing(k, fieldName);
        return positive(e);
    }

    private int positive(Entry e) {
        long v = integer(e);
        if (v <= 0) throw bad(e, "which must be positive");
        return (int) v;
    }

    private long integer(Entry e) {
        Object v = e.value();
        if (v instanceof Integer || v instanceof Long) {
            long l = ((Number) v).longValue();
            if (l > Integer.MAX_VALUE) throw bad(e, "which is too large");
            return l;
        }
        if (v instanceof BigInteger) throw bad(e, "which is too large");
        if (v instanceof Number) throw bad(e, "not a whole number");
        throw bad(e, "not an integer");
    }

    private int optionalPositive(Key k, int dflt) {
        Entry e = present(k);
        return e == null ? dflt : positive(e);
    }

    /** A finite number, or {@code dflt} when absent. */
    private double number(Key k, double dflt) {
        Entry e = present(k);
        if (e == null) return dflt;
        return number(e);
    }

    private double number(Entry e) {
        if (!(e.value() instanceof Number n) || e.value() instanceof BigInteger) throw bad(e, "not a number");
        double d = n.doubleValue();
        if (!Double.isFinite(d)) throw bad(e, "not a finite number");
        return d;
    }

    private String string(Key k, String dflt) {
        Entry e = present(k);
        if (e == null) return dflt;
        if (!(e.value() instanceof String s)) throw bad(e, "not a string");
        return s;
    }

    private boolean bool(Key k) {
        Entry e = present(k);
        if (e == null) return false;
        if (!(e.value() instanceof Boolean b)) throw bad(e, "not true or false");
        return b;
    }

    /**
     * Checks every field and the tensors' presence and shapes that the config implies, and returns the
     * config. {@code tensors} gives the vocabulary size (rows of the token embedding), tied output,
     * Q/K/V biases and GGUF's {@code rope_freqs}.
     */
    public DecoderConfig validate(TensorSource tensors) {
        Entry archE = entries.get(Key.ARCHITECTURE);
        if (archE == null || archE.value() == null) throw missing(Key.ARCHITECTURE, "an architecture");
        Optional<Family> known = archE.value() instanceof String a
                ? (halvesLayout ? Families.forHfModelType(a) : Families.forGgufArchitecture(a)) : Optional.empty();
        if (known.isEmpty()) {
            throw new ModelFormatException(file + " holds a " + show(archE.value()) + " model (" + archE.field()
                    + "); starattn runs " + Families.names() + " models.");
        }
        Family family = known.get();
        String arch = family.name();
        TensorNames names = family.tensors();
        if (!unsupported.isEmpty()) {
            Entry e = unsupported.get(0);
            if (e.value() instanceof Conflict c) throw new ModelFormatException(file + ": " + Printable.escape(e.field()) + " " + c.text() + ".");
            throw bad(e, "which changes the model in a way starattn does not implement (or does not know)");
        }
        String hidden = string(Key.HIDDEN_ACT, family.gemma() ? "gelu_pytorch_tanh" : "silu");
        Architecture.Activation activation = switch (hidden) {
            case "silu", "swish" -> Architecture.Activation.SILU;
            case "gelu_pytorch_tanh", "gelu_tanh" -> Architecture.Activation.GELU_TANH;
            default -> throw bad(present(Key.HIDDEN_ACT), "but starattn implements silu and gelu_pytorch_tanh");
        };
        // Soft-caps and the query scale are Gemma's: transformers ignores them in other families' configs,
        // so a file of another family that states one is one starattn does not understand.
        for (Key k : new Key[] {Key.ATTN_SOFTCAP, Key.FINAL_SOFTCAP, Key.QUERY_PRE_ATTN_SCALAR}) {
            if (present(k) == null) continue;
            if (!family.gemma() && number(k, 0) != 0) throw bad(present(k), "but starattn's " + arch + " has no logit soft-capping or query scale");
            if (!(number(k, 0) >= 0)) throw bad(present(k), "which must be positive (or 0 for none)");
        }
        double qpas = number(Key.QUERY_PRE_ATTN_SCALAR, 0);
        if (family.gemma() && !halvesLayout) qpas = ggufGemmaQueryScalar(family);
        if (present(Key.PARTIAL_ROTARY) != null && number(Key.PARTIAL_ROTARY, 1) != 1) {
            throw bad(present(Key.PARTIAL_ROTARY), "but starattn rotates the whole head (partial rotary factor 1)");
        }
        if (bool(Key.MLP_BIAS)) throw bad(present(Key.MLP_BIAS), "but starattn's " + arch + " has no MLP biases");
        if (!family.qkvBias() && bool(Key.ATTENTION_BIAS)) {
            throw bad(present(Key.ATTENTION_BIAS), "but starattn's " + arch + " has no attention projection biases");
        }

        int dim = positive(Key.DIM, "the embedding size");
        int layers = positive(Key.LAYERS, "the layer count");
        int heads = positive(Key.HEADS, "the attention head count");
        int kvHeads = optionalPositive(Key.KV_HEADS, heads);
        if (heads % kvHeads != 0) {
            throw bad(present(Key.KV_HEADS), heads + " attention heads cannot be grouped over that many kv heads");
        }
        int headDim;
        if (present(Key.HEAD_DIM) != null) {
            headDim = positive(present(Key.HEAD_DIM));
        } else {
            if (dim % heads != 0) {
                throw bad(present(Key.HEADS), "which does not divide the embedding size " + dim + " into whole heads");
            }
            headDim = dim / heads;
        }
        if (present(Key.VALUE_DIM) != null && positive(present(Key.VALUE_DIM)) != headDim) {
            throw bad(present(Key.VALUE_DIM), "but starattn needs value heads as wide as key heads (" + headDim + ")");
        }
        int ffn = positive(Key.FFN, "the feed-forward size");
        int context = positive(Key.CONTEXT, "the context length");
        double eps = number(Key.RMS_EPS, family.defaultRmsEps());
        if (!(eps > 0) || eps >= 1) throw bad(present(Key.RMS_EPS), "not an epsilon between 0 and 1");
        double base = number(Key.ROPE_BASE, family.defaultRopeBase());
        if (!(base > 1) || (float) base == Float.POSITIVE_INFINITY) throw bad(present(Key.ROPE_BASE), "not a RoPE base above 1");
        int ropeDim = optionalPositive(Key.ROPE_DIM, headDim);
        if (ropeDim % 2 != 0 || ropeDim > headDim) {
            Entry e = present(Key.ROPE_DIM) != null ? present(Key.ROPE_DIM) : present(Key.HEAD_DIM) != null ? present(Key.HEAD_DIM) : present(Key.HEADS);
            throw bad(e, "but RoPE needs an even number of dimensions, at most the head size " + headDim);
        }

        List<Architecture.LayerType> layerTypes = layerTypes(family, layers);
        boolean slidingLayers = layerTypes.contains(Architecture.LayerType.SLIDING_ATTENTION);
        Entry window = present(Key.SLIDING_WINDOW);
        int slidingWindow = 0;
        if (slidingLayers) {
            // Layers of two kinds (Gemma): the sliding ones attend within the window, at any context length.
            if (window == null) throw new ModelFormatException(file + " has sliding-window layers but no sliding_window.");
            slidingWindow = positive(window);
        } else {
            Entry local = present(Key.ROPE_LOCAL_BASE);
            if (local != null && number(local) != number(Key.ROPE_BASE, family.defaultRopeBase())) {
                throw bad(local, "a RoPE for sliding-window layers, but this model has none; starattn will not guess which RoPE holds");
            }
            // One window for every layer (Mistral, Qwen2): it changes nothing while a sequence spans at most
            // W positions, so the usable context becomes the window and the engine refuses longer prompts.
            boolean windowOn = window != null && (present(Key.USE_SLIDING_WINDOW) == null ? family.slidingWindowByDefault() : bool(Key.USE_SLIDING_WINDOW));
            if (windowOn) context = Math.min(context, positive(window));
        }

        String embdName = names.gguf(TensorRole.TOKEN_EMBEDDING);
        TensorRef embd = tensors.require(embdName);
        if (embd.dims().length != 2) {
            throw new ModelFormatException(file + ": tensor " + embdName + " has " + embd.dims().length + " dimensions, expected 2.");
        }
        int vocab = embd.rows();
        if (present(Key.VOCAB) != null && positive(present(Key.VOCAB)) != vocab) {
            throw bad(present(Key.VOCAB), "but the token embedding has " + vocab + " rows");
        }
        boolean hasOutput = tensors.find(names.gguf(TensorRole.OUTPUT)).isPresent();
        // Tied: the output projection is the embedding (transformers re-ties a saved lm_head to it).
        boolean tied = !hasOutput || bool(Key.TIED);

        float[] inv = DecoderConfig.defaultInvFreq((float) base, ropeDim);
        String ropeType = string(Key.ROPE_TYPE, "default");
        switch (ropeType) {
            case "default", "none" -> { }
            case "linear" -> {
                double factor = ropeFactor();
                for (int i = 0; i < inv.length; i++) inv[i] = (float) (inv[i] / factor);
            }
            case "llama3" -> {
                double factor = ropeFactor();
                double low = number(Key.ROPE_LOW_FREQ, 1), high = number(Key.ROPE_HIGH_FREQ, 4);
                if (!(low > 0)) throw bad(present(Key.ROPE_LOW_FREQ), "which must be positive");
                if (!(high > low)) throw bad(present(Key.ROPE_HIGH_FREQ) != null ? present(Key.ROPE_HIGH_FREQ) : present(Key.ROPE_LOW_FREQ),
                        "but llama3 RoPE needs high_freq_factor above low_freq_factor");
                Entry orig = present(Key.ROPE_ORIGINAL_CONTEXT);
                double original = orig == null ? 8192 : positive(orig);
                inv = DecoderConfig.llama3ScaledInvFreq(inv, factor, low, high, original);
            }
            default -> throw bad(present(Key.ROPE_TYPE), "a RoPE scaling starattn does not implement (it implements default, linear and llama3)");
        }
        String freqsName = names.gguf(TensorRole.ROPE_FREQS);
        Optional<TensorRef> freqs = tensors.find(freqsName);
        if (freqs.isPresent()) {
            // Llama 3.1 GGUFs store the rope scaling as per-frequency divisors.
            if (!ropeType.equals("default") && !ropeType.equals("none")) {
                throw bad(present(Key.ROPE_TYPE), "and the file also holds " + freqsName + "; starattn will not apply two RoPE scalings");
            }
            TensorRef t = freqs.get();
            if (t.elements() != inv.length) {
                throw new ModelFormatException(file + ": tensor " + freqsName + " has " + t.elements() + " elements, expected " + inv.length + ".");
            }
            float[] factors = new float[inv.length];
            dev.starattn.tensor.WeightMatrices.of(t.type(), t.data(), 1, inv.length).dequantizeRow(0, factors, 0);
            for (int i = 0; i < inv.length; i++) {
                if (!(factors[i] > 0) || !Float.isFinite(factors[i])) {
                    throw new ModelFormatException(file + ": tensor " + freqsName + " has element " + i + " = " + factors[i]
                            + ", not a positive finite divisor.");
                }
                inv[i] /= factors[i];
            }
        }
        boolean qkvBias = family.qkvBias() || tensors.find(names.gguf(TensorRole.ATTN_Q_BIAS, 0)).isPresent();
        boolean halves = family.ggufRopeHalves() || halvesLayout;
        RopeSpec rope = new RopeSpec((float) base, ropeDim, halves, inv);
        Architecture descriptor;
        if (!family.gemma() && !slidingLayers && qpas == 0 && number(Key.ATTN_SOFTCAP, 0) == 0 && number(Key.FINAL_SOFTCAP, 0) == 0
                && activation == Architecture.Activation.SILU) {
            descriptor = Architecture.standard(family, (float) eps, rope, layers, qkvBias, tied);
        } else {
            Map<Architecture.LayerType, RopeSpec> ropes = new EnumMap<>(Architecture.LayerType.class);
            ropes.put(Architecture.LayerType.FULL_ATTENTION, rope);
            if (slidingLayers) {
                // The sliding layers rotate unscaled, with a base of their own where the file gives one (Gemma 3).
                // Unstated, Gemma 3's is 10000 in both llama.cpp and transformers' Gemma3TextConfig, not the global base.
                double local = number(Key.ROPE_LOCAL_BASE, family == GemmaFamilies.GEMMA3 ? GemmaFamilies.GEMMA3_LOCAL_ROPE_BASE : base);
                if (!(local > 1)) throw bad(present(Key.ROPE_LOCAL_BASE), "not a RoPE base above 1");
                ropes.put(Architecture.LayerType.SLIDING_ATTENTION, local == base && !freqs.isPresent() && ropeType.equals("default")
                        ? rope : new RopeSpec((float) local, ropeDim, halves, DecoderConfig.defaultInvFreq((float) local, ropeDim)));
            }
            // Gemma's norms multiply by (1 + w); GGUF converters store 1 + w already.
            float normOffset = family.gemma() && halvesLayout ? 1 : 0;
            descriptor = new Architecture(family, Architecture.Norm.RMS_NORM, normOffset, (float) eps, activation,
                    family.gemma() ? (float) Math.sqrt(dim) : 1, layerTypes, ropes, slidingWindow,
                    (float) number(Key.ATTN_SOFTCAP, 0), (float) number(Key.FINAL_SOFTCAP, 0), qkvBias, false, false, tied,
                    family.qkNorm(), family.gemma(), (float) qpas);
        }
        DecoderConfig c = new DecoderConfig(descriptor, dim, layers, heads, kvHeads, headDim, ffn, vocab, context);
        checkTokenId(Key.BOS, vocab);
        checkTokenId(Key.EOS, vocab);
        return c;
    }

    /**
     * GGUF has no query_pre_attn_scalar: llama.cpp scales Gemma's queries by the head size, except in the
     * 27B models (46 layers for Gemma 2, 62 for Gemma 3), by the embedding size over the heads. So do we.
     */
    private double ggufGemmaQueryScalar(Family family) {
        int layers = positive(Key.LAYERS, "the layer count");
        int dim = positive(Key.DIM, "the embedding size"), heads = positive(Key.HEADS, "the attention head count");
        boolean is27b = layers == (family == GemmaFamilies.GEMMA2 ? 46 : 62);
        if (is27b) return (double) dim / heads;
        Entry hd = present(Key.HEAD_DIM);
        return hd != null ? positive(hd) : (double) dim / heads;
    }

    /**
     * The attention kind of each layer: the file's list (config.json {@code layer_types}), else the
     * family's rule (Gemma: every {@code sliding_window_pattern}-th layer full, the rest sliding), else all full.
     */
    @SuppressWarnings("unchecked")
    private List<Architecture.LayerType> layerTypes(Family family, int layers) {
        Entry listed = present(Key.LAYER_TYPES);
        if (listed != null) {
            List<Architecture.LayerType> types = (List<Architecture.LayerType>) listed.value();
            if (types.size() != layers) throw bad(listed, "listing " + types.size() + " layers for a model of " + layers);
            return types;
        }
        int every = present(Key.SLIDING_PATTERN) != null ? positive(present(Key.SLIDING_PATTERN)) : family.fullLayerEvery();
        List<Architecture.LayerType> types = new ArrayList<>(layers);
        for (int i = 0; i < layers; i++) {
            types.add(every > 0 && (i + 1) % every != 0 ? Architecture.LayerType.SLIDING_ATTENTION : Architecture.LayerType.FULL_ATTENTION);
        }
        return types;
    }

    private double ropeFactor() {
        Entry e = present(Key.ROPE_FACTOR);
        if (e == null) throw new ModelFormatException(file + ": " + present(Key.ROPE_TYPE).field() + " is "
                + show(present(Key.ROPE_TYPE).value()) + " but no scaling factor is given.");
        double f = number(e);
        if (!(f >= 1)) throw bad(e, "but a RoPE scaling factor must be at least 1");
        return f;
    }

    /**
     * A bos/eos id given in the model's config: a number or a list of numbers, each in the vocabulary.
     * GGUF writes "none" as -1 (or its 32-bit unsigned form).
     */
    private void checkTokenId(Key k, int vocab) {
        Entry e = present(k);
        if (e == null) return;
        Object v = e.value();
        if (v instanceof JsonNode n && n.isArray()) {
            for (JsonNode x : n) checkOneId(new Entry(e.field(), scalar(x)), vocab, false);
        } else {
            checkOneId(e, vocab, true);
        }
    }

    private void checkOneId(Entry e, int vocab, boolean noneAllowed) {
        Object v = e.value();
        if (!(v instanceof Integer || v instanceof Long)) throw bad(e, "not a token id");
        long id = ((Number) v).longValue();
        if (noneAllowed && (id == -1 || id == 0xFFFFFFFFL)) return;
        if (id < 0 || id >= vocab) throw bad(e, "outside the vocabulary of " + vocab + " tokens");
    }

    /** Token ids of the config's bos/eos (first of a list), or -1: for a model without a tokenizer. */
    public int tokenId(Key k) {
        Entry e = present(k);
        if (e == null) return -1;
        Object v = e.value() instanceof JsonNode n && n.isArray() ? (n.isEmpty() ? null : scalar(n.get(0))) : e.value();
        if (!(v instanceof Number num)) return -1;
        long id = num.longValue();
        return id < 0 || id == 0xFFFFFFFFL ? -1 : (int) id;
    }

    /**
     * Every tensor of the file must be one the model uses: a leftover tensor means the metadata and the
     * tensors disagree (a layer count that is too small, a feature starattn does not implement).
     */
    void checkAllTensorsUsed(List<TensorRef> all, Set<String> used, DecoderConfig c) {
        TensorNames names = c.descriptor().tensors();
        // Tensors the file may hold without the engine using them (buffers some exporters save).
        List<String> ignorableSuffixes = halvesLayout ? names.hfIgnorableSuffixes() : List.of();
        for (TensorRef t : all) {
            if (used.contains(t.name())) continue;
            if (t.name().equals(names.gguf(TensorRole.OUTPUT)) && c.tiedOutput()) continue;
            if (t.name().equals(names.gguf(TensorRole.ROPE_FREQS))) continue;
            boolean ignorable = false;
            for (String s : ignorableSuffixes) ignorable |= t.name().endsWith(s);
            if (ignorable) continue;
            throw new ModelFormatException(file + ": tensor " + Printable.quote(t.name()) + " is not part of a " + c.architecture()
                    + " model with " + c.layers() + " layers as the metadata describes it; the metadata and the tensors disagree.");
        }
    }
}
