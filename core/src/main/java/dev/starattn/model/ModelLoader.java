package dev.starattn.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.tokenizer.IdsOnlyTokenizer;
import dev.starattn.tokenizer.Tokenizer;
import dev.starattn.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Opens a model: a GGUF file, or a Hugging Face directory (config.json, safetensors, tokenizer.json).
 * Reads the config, checks every tensor's shape, builds the tokenizer. Weights stay mapped.
 */
public final class ModelLoader {
    private ModelLoader() {}

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
            ModelSpec spec = ModelSpec.fromGguf(f);
            DecoderConfig c = spec.validate(f);
            progress.accept("checking tensors of " + c);
            DecoderModel model = new DecoderModel(c, loadWeights(spec, c, f, f.tensors()));
            Tokenizer tok = Tokenizers.fromGgufMetadata(f.metadata());
            checkTokenizer(spec, tok, c);
            PromptTemplate template = templateOf(dev.starattn.chat.ModelChatTemplates.fromGguf(f.metadata(), tok), tok);
            return new LoadedModel(path, "gguf", c, model, tok, ModelHash.ofGguf(path), template, f);
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
            ModelSpec spec = ModelSpec.fromHf(m);
            DecoderConfig c = spec.validate(m);
            DecoderModel model = new DecoderModel(c, loadWeights(spec, c, m, m.tensors()));
            // Without tokenizer.json the model still runs on prompts given as token ids.
            Tokenizer tok = m.tokenizerJson() == null
                    ? new IdsOnlyTokenizer(dir.toString(), c.vocabSize(), spec.tokenId(ModelSpec.Key.BOS), spec.tokenId(ModelSpec.Key.EOS))
                    : Tokenizers.fromTokenizerJson(m.tokenizerJson(), m.tokenizerConfigJson());
            checkTokenizer(spec, tok, c);
            PromptTemplate template = templateOf(tok instanceof IdsOnlyTokenizer ? null : dev.starattn.chat.ModelChatTemplates.fromHfDir(dir, tok), tok);
            return new LoadedModel(dir, "safetensors", c, model, tok, hfContent(m), template, m);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * The weights, with every tensor of the file accounted for (used by the model, or known to be
     * redundant) and every float weight finite.
     */
    private static DecoderWeights loadWeights(ModelSpec spec, DecoderConfig c, TensorSource src, List<TensorRef> all) {
        Set<String> used = new HashSet<>();
        TensorSource recording = new TensorSource() {
            @Override
            public Optional<TensorRef> find(String name) {
                Optional<TensorRef> t = src.find(name);
                t.ifPresent(x -> used.add(name));
                return t;
            }

            @Override
            public TensorRef require(String name) {
                TensorRef t = src.require(name);
                used.add(name);
                return t;
            }

            @Override
            public void close() {}
        };
        DecoderWeights w;
        try {
            w = DecoderWeights.load(c, recording);
        } catch (ModelFormatException e) {
            if (e.getMessage().contains(spec.file())) throw e;
            throw new ModelFormatException(spec.file() + ": " + e.getMessage(), e);
        }
        spec.checkAllTensorsUsed(all, used, c);
        FiniteCheck.check(all, spec.file());
        return w;
    }

    /** The tokenizer's ids must all index the embedding. */
    private static void checkTokenizer(ModelSpec spec, Tokenizer tok, DecoderConfig c) {
        if (tok.vocabSize() > c.vocabSize()) {
            throw new ModelFormatException(spec.file() + ": the tokenizer has " + tok.vocabSize() + " tokens but the token embedding only "
                    + c.vocabSize() + " rows.");
        }
    }

    /**
     * The model's own chat template where it has one; the hand-written Llama 3 template only as the
     * fallback for a model with Llama 3's header tokens and no template; else none.
     */
    private static PromptTemplate templateOf(dev.starattn.chat.JinjaChatTemplate own, Tokenizer tok) {
        if (own != null) {
            try {
                return PromptTemplate.fromChat(own);
            } catch (dev.starattn.chat.ChatTemplateException unusable) {
                // A template that cannot render one user turn (a syntax Jinjava lacks, a required
                // system message) must not stop the model from loading: the fallback below serves.
            }
        }
        return tokenHasName(tok, "<|start_header_id|>") ? PromptTemplate.LLAMA3 : PromptTemplate.BASE;
    }

    private static boolean tokenHasName(Tokenizer t, String name) {
        if (t instanceof IdsOnlyTokenizer) return false;
        int[] ids = t.encodeWithSpecialTokens(name);
        return ids.length == 1;
    }

    /** Every file the loader read from a Hugging Face directory: the shards, config.json and the tokenizer files. */
    private static ModelHash hfContent(HfModelDir m) {
        List<ModelHash.Part> parts = new java.util.ArrayList<>();
        for (var f : m.files()) parts.add(new ModelHash.Part(f.path().getFileName().toString(), f.path()));
        parts.add(new ModelHash.Part("config.json", m.dir().resolve("config.json")));
        if (m.tokenizerJson() != null) parts.add(new ModelHash.Part("tokenizer.json", m.tokenizerJson()));
        if (m.tokenizerConfigJson() != null) parts.add(new ModelHash.Part("tokenizer_config.json", m.tokenizerConfigJson()));
        return new ModelHash(parts);
    }
}
