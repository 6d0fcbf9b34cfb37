package dev.starattn.format.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.model.family.Families;
import dev.starattn.model.family.Family;
import dev.starattn.model.family.LlamaFamily;
import dev.starattn.model.family.MultimodalCheckpoint;
import dev.starattn.model.family.TensorNames;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A Hugging Face model directory: {@code config.json}, weights in {@code model.safetensors} or in
 * shards listed by {@code model.safetensors.index.json}, and optionally {@code tokenizer.json}.
 * As a {@link TensorSource} it serves tensors under GGUF names (by its family's
 * {@link TensorNames}); tensors with
 * no GGUF counterpart keep their Hugging Face names. Q and K weights are not permuted: models
 * loaded from here use Hugging Face's rotate-half RoPE. A checkpoint that wraps a text model with
 * parts starattn does not run ({@link MultimodalCheckpoint}: Gemma 3 4B and up) serves the text
 * model: its config ({@link #textConfig}) and its tensors; the other parts' tensors are set aside
 * ({@link #ignoredTensors}).
 */
public final class HfModelDir implements TensorSource {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path dir;
    private final JsonNode config;
    /** The wrapper config.json describes, or null for a checkpoint of a text model alone. */
    private final MultimodalCheckpoint wrapper;
    private final JsonNode textConfig;
    private final List<TensorRef> ignored = new ArrayList<>();
    private final List<SafetensorsFile> files = new ArrayList<>();
    private final Map<String, TensorRef> tensors = new LinkedHashMap<>();
    private final Map<String, String> hfNames = new LinkedHashMap<>();

    private HfModelDir(Path dir, JsonNode config, MultimodalCheckpoint wrapper, JsonNode textConfig) {
        this.dir = dir;
        this.config = config;
        this.wrapper = wrapper;
        this.textConfig = textConfig;
    }

    /** The GGUF name for a Hugging Face tensor name under the Llama naming, or the name itself when there is none. */
    public static String ggufName(String hf) {
        return LlamaFamily.TENSORS.ggufFromHf(hf);
    }

    /**
     * The tensor names of the family config.json's {@code model_type} names (absent: llama, as
     * {@link dev.starattn.model.ModelSpec} reads it); an unknown type gets Llama's, and the model spec refuses it.
     */
    private TensorNames tensorNames() {
        JsonNode t = textConfig.get("model_type");
        String type = t == null ? "llama" : t.isTextual() ? t.asText() : null;
        Optional<Family> f = type == null ? Optional.empty() : Families.forHfModelType(type);
        return f.map(Family::tensors).orElse(LlamaFamily.TENSORS);
    }

    /**
     * Opens a model directory (or the directory of a given {@code .safetensors} / {@code config.json}
     * file).
     */
    public static HfModelDir open(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path + " does not exist.");
        }
        Path dir = Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) {
            throw new ModelFormatException(path + " does not exist or is not a model directory.");
        }
        Path cfg = dir.resolve("config.json");
        if (!Files.isRegularFile(cfg)) {
            throw new ModelFormatException(dir + " has no config.json; a Hugging Face model directory needs one.");
        }
        JsonNode config = readJson(cfg);
        if (!config.isObject()) throw new ModelFormatException(cfg + " is not a JSON object.");
        JsonNode type = config.get("model_type");
        MultimodalCheckpoint wrapper = type != null && type.isTextual() ? Families.multimodalForHfModelType(type.asText()).orElse(null) : null;
        HfModelDir m = new HfModelDir(dir, config, wrapper, wrapper == null ? config : textConfigOf(cfg, config, wrapper));
        try {
            m.load();
            return m;
        } catch (RuntimeException e) {
            m.close();
            if (e instanceof ModelFormatException) throw e;
            throw new ModelFormatException(dir + " cannot be read as a Hugging Face model (" + e + ").", e);
        }
    }

    /**
     * The wrapped text model's config as transformers reads it: the wrapper's defaults, overlaid by the
     * fields the nested object states; bos/eos from the outer config where the nested one has none.
     */
    private static JsonNode textConfigOf(Path cfg, JsonNode config, MultimodalCheckpoint wrapper) {
        JsonNode nested = config.get(wrapper.textConfigField());
        if (nested == null || !nested.isObject()) {
            throw new ModelFormatException(cfg + " describes a " + wrapper.modelType() + " checkpoint but has no "
                    + wrapper.textConfigField() + " object for its text model.");
        }
        ObjectNode text = JSON.createObjectNode();
        text.put("model_type", wrapper.textModelType());
        wrapper.textDefaults().forEach((k, v) -> text.set(k, JSON.valueToTree(v)));
        for (String id : new String[] {"bos_token_id", "eos_token_id"}) {
            if (config.hasNonNull(id)) text.set(id, config.get(id));
        }
        text.setAll((ObjectNode) nested);
        return text;
    }

    private static JsonNode readJson(Path p) {
        try {
            JsonNode n = JSON.readTree(p.toFile());
            if (n == null) throw new ModelFormatException(p + " is empty.");
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFormatException(p + " is not valid JSON (" + e.getOriginalMessage() + ").", e);
        } catch (IOException e) {
            throw new ModelFormatException("Cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private void load() {
        Path index = dir.resolve("model.safetensors.index.json");
        Path single = dir.resolve("model.safetensors");
        if (Files.isRegularFile(index)) {
            JsonNode idx = readJson(index);
            JsonNode wm = idx.get("weight_map");
            if (wm == null || !wm.isObject()) {
                throw new ModelFormatException(index + " has no weight_map object.");
            }
            Set<String> shards = new LinkedHashSet<>();
            wm.properties().forEach(e -> {
                if (!e.getValue().isTextual()) throw new ModelFormatException(index + " maps tensor '" + e.getKey() + "' to a non-string.");
                shards.add(e.getValue().asText());
            });
            Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
            for (String s : shards) {
                Path p = dir.resolve(s).normalize();
                if (s.contains("/") || s.contains("\\") || !p.getParent().equals(dir.normalize())) {
                    throw new ModelFormatException(index + " names shard '" + s + "', which is not a file in " + dir + ".");
                }
                if (!Files.isRegularFile(p)) {
                    throw new ModelFormatException("shard " + s + " listed in " + index + " is missing from " + dir + ".");
                }
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                byName.put(s, f);
            }
            wm.properties().forEach(e -> {
                String shard = e.getValue().asText();
                if (byName.get(shard).find(e.getKey()).isEmpty()) {
                    throw new ModelFormatException(index + " says tensor '" + e.getKey() + "' is in " + shard + ", but that shard does not contain it.");
                }
            });
        } else if (Files.isRegularFile(single)) {
            files.add(SafetensorsFile.open(single));
        } else {
            throw new ModelFormatException(dir + " has neither model.safetensors nor model.safetensors.index.json.");
        }
        TensorNames names = tensorNames();
        for (SafetensorsFile f : files) {
            for (TensorRef t : f.tensors()) {
                if (wrapper != null && wrapper.ignores(t.name())) {
                    ignored.add(t);
                    continue;
                }
                String g = names.ggufFromHf(wrapper == null ? t.name() : wrapper.textTensorName(t.name()));
                if (tensors.containsKey(g)) {
                    throw new ModelFormatException("tensor '" + t.name() + "' appears twice in " + dir + " (in " + f.path().getFileName()
                            + " and as '" + hfNames.get(g) + "').");
                }
                tensors.put(g, new TensorRef(g, t.type(), t.dims(), t.data()));
                hfNames.put(g, t.name());
            }
        }
    }

    public Path dir() { return dir; }

    /** config.json. */
    public JsonNode config() { return config; }

    /** The text model's config: config.json, or for a wrapped text model its nested config with the defaults applied. */
    public JsonNode textConfig() { return textConfig; }

    /** How messages name a field of {@link #textConfig}: "" or, for a wrapped text model, {@code text_config.}. */
    public String textConfigPrefix() { return wrapper == null ? "" : wrapper.textConfigField() + "."; }

    /** The tensors of the parts starattn does not run (a vision tower), under their file names; empty for a text model alone. */
    public List<TensorRef> ignoredTensors() { return List.copyOf(ignored); }

    /** Those parts in words, or empty when there are none. */
    public Optional<String> ignoredParts() {
        return wrapper == null || ignored.isEmpty() ? Optional.empty() : Optional.of(wrapper.ignoredParts());
    }

    /** tokenizer.json, or null if the directory has none. */
    public Path tokenizerJson() {
        Path p = dir.resolve("tokenizer.json");
        return Files.isRegularFile(p) ? p : null;
    }

    /** tokenizer_config.json (chat template, special tokens), or null. */
    public Path tokenizerConfigJson() {
        Path p = dir.resolve("tokenizer_config.json");
        return Files.isRegularFile(p) ? p : null;
    }

    /** The safetensors files, in load order. */
    public List<SafetensorsFile> files() { return List.copyOf(files); }

    /** All tensors of the text model under their GGUF names. */
    public List<TensorRef> tensors() { return List.copyOf(tensors.values()); }

    /** The Hugging Face name of a tensor served under {@code ggufName}. */
    public Optional<String> hfName(String ggufName) { return Optional.ofNullable(hfNames.get(ggufName)); }

    @Override
    public Optional<TensorRef> find(String ggufName) { return Optional.ofNullable(tensors.get(ggufName)); }

    @Override
    public TensorRef require(String ggufName) {
        TensorRef t = tensors.get(ggufName);
        if (t == null) throw new ModelFormatException("tensor " + ggufName + " is missing from " + dir + ".");
        return t;
    }

    @Override
    public void close() {
        for (SafetensorsFile f : files) f.close();
    }
}
