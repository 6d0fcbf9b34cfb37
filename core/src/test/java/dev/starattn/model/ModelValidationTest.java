package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.format.gguf.GgufWriter;
import dev.starattn.tensor.GgmlType;
import dev.starattn.testutil.HfDirWriter;
import dev.starattn.testutil.InMemoryModel;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A model file whose metadata, config or tensors lie, or that asks for math starattn does not
 * implement, is refused at load time in one sentence naming the file and the field; configs in
 * either Hugging Face style (transformers 4 and 5) are read.
 */
class ModelValidationTest {
    @TempDir
    Path dir;
    private int files;

    private static RandomLlamaModel tiny() {
        return new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).contextLength(512);
    }

    private Path write(GgufWriter w) {
        return w.write(dir.resolve("m" + (files++) + ".gguf"));
    }

    /** Loading {@code p} fails with a message that names the file and holds every part, with no raw control character. */
    private static ModelFormatException refused(Path p, String... parts) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(p).close());
        String m = e.getMessage();
        assertTrue(m.contains(p.toString()), () -> "message does not name the file: " + m);
        for (String part : parts) assertTrue(m.contains(part), () -> "message <" + m + "> lacks <" + part + ">");
        assertTrue(m.chars().noneMatch(c -> c < 0x20), () -> "raw control character in: " + m);
        return e;
    }

    // ---------------------------------------------------------------- GGUF metadata

    @Test
    void validGgufLoadsTiedAndUntied() {
        try (LoadedModel m = ModelLoader.load(write(tiny().build()))) {
            assertFalse(m.config().tiedOutput());
        }
        try (LoadedModel m = ModelLoader.load(write(tiny().tied(true).build()))) {
            assertTrue(m.config().tiedOutput());
        }
    }

    @Test
    void blockCountSmallerThanTheTensors() {
        refused(write(tiny().build().put("llama.block_count", GgufValueType.UINT32, 1L)), "blk.1.", "1 layers");
    }

    @Test
    void tensorCountThatDropsATensor() {
        // output.weight written last: a header that claims one tensor fewer drops it, and the model would
        // run tied with every tensor read at a shifted offset (the data section then starts inside the header).
        GgufWriter w = tiny().tied(true).build().addTensor("output.weight", GgmlType.F32, new long[] {64, 300}, new byte[64 * 300 * 4]);
        ModelLoader.load(write(w)).close();
        refused(write(w.overrideTensorCount(20)), "tensor count (20)");
        refused(write(tiny().build().overrideTensorCount(20)), "tensor count (20)");
    }

    @Test
    void tensorDataWithAnOverlapOrLeftoverBytes() throws Exception {
        // An extra tensor placed over the embedding's bytes.
        refused(write(tiny().build().addTensorRaw("zz.weight", GgmlType.F32.id, new long[] {64}, null, 0L)), "overlaps");
        // Bytes after the last tensor that no tensor claims.
        Path p = write(tiny().build());
        Files.write(p, new byte[4096], java.nio.file.StandardOpenOption.APPEND);
        refused(p, "4096 bytes after the last tensor");
    }

    @Test
    void contextLengthZero() {
        refused(write(tiny().build().put("llama.context_length", GgufValueType.UINT32, 0L)), "llama.context_length", "positive");
    }

    @ParameterizedTest
    @ValueSource(floats = {Float.NaN, 0f, -1e-5f, Float.POSITIVE_INFINITY})
    void badRmsEps(float v) {
        refused(write(tiny().build().put("llama.attention.layer_norm_rms_epsilon", GgufValueType.FLOAT32, v)),
                "llama.attention.layer_norm_rms_epsilon");
    }

    @ParameterizedTest
    @ValueSource(floats = {Float.NaN, 0f, -10000f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
    void badRopeBase(float v) {
        refused(write(tiny().build().put("llama.rope.freq_base", GgufValueType.FLOAT32, v)), "llama.rope.freq_base");
    }

    @ParameterizedTest
    @ValueSource(longs = {15, 32, 0})
    void badRopeDimension(long v) {
        refused(write(tiny().build().put("llama.rope.dimension_count", GgufValueType.UINT32, v)), "llama.rope.dimension_count");
    }

    @Test
    void zeroHeadsOrLayers() {
        refused(write(tiny().build().put("llama.attention.head_count", GgufValueType.UINT32, 0L)), "llama.attention.head_count", "positive");
        refused(write(tiny().build().put("llama.block_count", GgufValueType.UINT32, 0L)), "llama.block_count", "positive");
        refused(write(tiny().build().put("llama.embedding_length", GgufValueType.FLOAT32, 64.5f)), "llama.embedding_length", "whole number");
    }

    @Test
    void badTokenIds() {
        refused(write(tiny().build().put("tokenizer.ggml.bos_token_id", GgufValueType.INT32, -5)), "tokenizer.ggml.bos_token_id", "-5");
        refused(write(tiny().build().put("tokenizer.ggml.eos_token_id", GgufValueType.UINT32, 300L)), "tokenizer.ggml.eos_token_id", "300");
        // -1 is the writers' "no such token".
        try (LoadedModel m = ModelLoader.load(write(tiny().build().put("tokenizer.ggml.eos_token_id", GgufValueType.INT32, -1)))) {
            assertEquals(-1, m.tokenizer().eosId());
        }
    }

    @Test
    void unimplementedGgufFeaturesAreRefused() {
        refused(write(tiny().build().put("llama.rope.scaling.type", "yarn").put("llama.rope.scaling.factor", 4f)),
                "llama.rope.scaling.type", "yarn");
        refused(write(tiny().build().put("llama.attn_logit_softcapping", 50f)), "llama.attn_logit_softcapping");
        refused(write(tiny().build().put("llama.final_logit_softcapping", 30f)), "llama.final_logit_softcapping");
        refused(write(tiny().build().put("llama.expert_count", GgufValueType.UINT32, 8L)), "llama.expert_count");
        refused(write(tiny().build().put("llama.attention.value_length", GgufValueType.UINT32, 32L)), "llama.attention.value_length");
        refused(write(tiny().build().put("llama.some_future_key", 1)), "llama.some_future_key");
        refused(write(tiny().build().put("llama.vocab_size", GgufValueType.UINT32, 301L)), "llama.vocab_size");
        // A feature written as absent is fine.
        ModelLoader.load(write(tiny().build().put("llama.expert_count", GgufValueType.UINT32, 0L))).close();
    }

    @Test
    void linearRopeScalingAndSlidingWindow() {
        try (LoadedModel plain = ModelLoader.load(write(tiny().build()));
             LoadedModel m = ModelLoader.load(write(tiny().build().put("llama.rope.scaling.type", "linear")
                     .put("llama.rope.scaling.factor", 4f).put("llama.attention.sliding_window", GgufValueType.UINT32, 128L)))) {
            float[] a = plain.config().ropeInvFreq(), b = m.config().ropeInvFreq();
            for (int i = 0; i < a.length; i++) assertEquals(a[i] / 4, b[i], 1e-9f);
            // A window changes nothing up to its length; the engine refuses longer sequences.
            assertEquals(128, m.config().contextLength());
        }
    }

    @Test
    void unusedTensorIsAnError() {
        refused(write(tiny().build().addTensor("blk.0.attn_output.bias", GgmlType.F32, new long[] {64}, new byte[256])),
                "blk.0.attn_output.bias");
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16"})
    void nonFiniteWeightIsAnError(GgmlType type) throws Exception {
        Path p = write(tiny().weightType(type).build());
        ModelLoader.load(p).close();
        long at;
        try (GgufFile f = GgufFile.open(p)) {
            TensorRef t = f.require("blk.1.ffn_up.weight");
            at = t.data().address() - f.segment().address() + 10L * (type == GgmlType.F32 ? 4 : 2);
        }
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.seek(at);
            if (type == GgmlType.F32) raf.write(new byte[] {0, 0, (byte) 0xc0, 0x7f});       // NaN
            else if (type == GgmlType.F16) raf.write(new byte[] {0, (byte) 0x7c});            // +Inf
            else raf.write(new byte[] {(byte) 0x80, (byte) 0xff});                            // -Inf
        }
        refused(p, "blk.1.ffn_up.weight", "element 10");
    }

    @Test
    void controlSequencesFromTheFileAreEscaped() {
        String evil = "\u001b[2J\u001b]0;pwned\u0007llama";
        ModelFormatException e = refused(write(tiny().build().put("general.architecture", evil)), "\\x1b[2J");
        assertFalse(e.getMessage().contains("\u001b"));
        e = refused(write(tiny().build().put("llama.\u001b[31mred", 1)), "llama.\\x1b[31mred");
        assertFalse(e.getMessage().contains("\u001b"));
        e = refused(write(tiny().build().addTensor("blk.0.\u001b[1mx", GgmlType.F32, new long[] {64}, new byte[256])), "\\x1b[1mx");
        assertFalse(e.getMessage().contains("\u001b"));
    }

    // ---------------------------------------------------------------- Hugging Face config.json

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A small HF directory whose config.json is edited by {@code edit}. */
    private Path hf(String arch, Consumer<ObjectNode> edit) throws Exception {
        DecoderConfig c = new DecoderConfig(arch, 64, 2, 4, 2, 16, 96, 300, 512, 1e-5f, 10000f, 16, true,
                DecoderConfig.defaultInvFreq(10000f, 16), arch.equals("qwen2"), false);
        Path d = dir.resolve("hf" + (files++));
        HfDirWriter.write(d, c, new InMemoryModel(c, 5), true);
        ObjectNode cfg = (ObjectNode) JSON.readTree(d.resolve("config.json").toFile());
        cfg.put("model_type", arch);
        edit.accept(cfg);
        Files.writeString(d.resolve("config.json"), cfg.toString());
        return d;
    }

    private static Path cfg(Path d) {
        return d.resolve("config.json");
    }

    @Test
    void transformers5RopeParametersAreRead() throws Exception {
        Path old = hf("llama", c -> c.put("rope_theta", 500000).putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0)
                .put("low_freq_factor", 1.0).put("high_freq_factor", 4.0).put("original_max_position_embeddings", 64));
        Path v5 = hf("llama", c -> {
            c.remove("rope_theta");
            c.putObject("rope_parameters").put("rope_theta", 500000).put("rope_type", "llama3").put("factor", 8.0)
                    .put("low_freq_factor", 1.0).put("high_freq_factor", 4.0).put("original_max_position_embeddings", 64);
        });
        Path perLayerType = hf("llama", c -> {
            c.remove("rope_theta");
            c.putObject("rope_parameters").putObject("full_attention").put("rope_theta", 500000).put("rope_type", "llama3")
                    .put("factor", 8.0).put("low_freq_factor", 1.0).put("high_freq_factor", 4.0).put("original_max_position_embeddings", 64);
        });
        float[] expected = DecoderConfig.llama3ScaledInvFreq(DecoderConfig.defaultInvFreq(500000f, 16), 8, 1, 4, 64);
        for (Path d : new Path[] {old, v5, perLayerType}) {
            try (LoadedModel m = ModelLoader.load(d)) {
                assertEquals(500000f, m.config().ropeBase(), d.toString());
                assertArrayEquals(expected, m.config().ropeInvFreq(), d.toString());
            }
        }
        refused(hf("llama", c -> c.putObject("rope_parameters").put("rope_theta", 10000).put("rope_type", "yarn").put("factor", 4.0)),
                "rope_parameters.rope_type", "yarn");
        refused(hf("llama", c -> c.putObject("rope_scaling").put("type", "dynamic").put("factor", 2.0)), "rope_scaling.type", "dynamic");
        refused(hf("llama", c -> {
            c.remove("rope_theta");
            ObjectNode p = c.putObject("rope_parameters");
            p.putObject("full_attention").put("rope_theta", 1000000).put("rope_type", "default");
            p.putObject("sliding_attention").put("rope_theta", 10000).put("rope_type", "default");
        }), "rope_parameters.sliding_attention");
        refused(hf("llama", c -> c.putObject("rope_parameters").put("rope_theta", 10000).put("rope_type", "default")
                .put("partial_rotary_factor", 0.5)), "partial_rotary_factor");
        refused(hf("llama", c -> c.putObject("rope_parameters").put("rope_theta", 500000)), "rope_theta differs from rope_parameters.rope_theta");
    }

    @Test
    void lyingHfNumbers() throws Exception {
        refused(hf("llama", c -> c.put("hidden_size", 64.7)), cfg(dir.resolve("hf0")).toString(), "hidden_size", "64.7", "whole number");
        refused(hf("llama", c -> c.put("rms_norm_eps", "abc")), "rms_norm_eps", "\"abc\"", "not a number");
        refused(hf("llama", c -> c.put("head_dim", -16)), "head_dim", "-16", "positive");
        refused(hf("llama", c -> c.put("num_attention_heads", 0)), "num_attention_heads", "positive");
        refused(hf("llama", c -> c.put("max_position_embeddings", 0)), "max_position_embeddings", "positive");
        refused(hf("llama", c -> c.put("rope_theta", "NaN")), "rope_theta");
        refused(hf("llama", c -> c.put("bos_token_id", -5)), "bos_token_id", "-5");
        refused(hf("llama", c -> c.putArray("eos_token_id").add(2).add(300)), "eos_token_id", "300");
        refused(hf("llama", c -> c.put("num_hidden_layers", 1)), "blk.1.");
        refused(hf("llama", c -> c.put("vocab_size", 299)), "vocab_size");
    }

    @Test
    void unimplementedHfFeaturesAreRefused() throws Exception {
        refused(hf("llama", c -> c.put("hidden_act", "gelu")), "hidden_act", "silu");
        refused(hf("llama", c -> c.put("attn_logit_softcapping", 50.0)), "attn_logit_softcapping");
        refused(hf("llama", c -> c.put("final_logit_softcapping", 30.0)), "final_logit_softcapping");
        refused(hf("llama", c -> c.put("partial_rotary_factor", 0.5)), "partial_rotary_factor");
        refused(hf("llama", c -> c.put("attention_bias", true)), "attention_bias");
        refused(hf("llama", c -> c.put("mlp_bias", true)), "mlp_bias");
        refused(hf("llama", c -> c.put("use_qk_norm", true)), "use_qk_norm");
        refused(hf("llama", c -> c.putObject("quantization_config").put("quant_method", "gptq")), "quantization_config");
        refused(hf("llama", c -> c.put("model_type", "phi3")), "model_type", "phi3");
        refused(hf("llama", c -> c.put("model_type", "gemma2")), "sliding-window layers but no sliding_window");
        // Written as off, these are fine.
        ModelLoader.load(hf("llama", c -> c.put("attention_bias", false).put("mlp_bias", false).putNull("sliding_window")
                .put("hidden_act", "silu").putNull("final_logit_softcapping"))).close();
    }

    @Test
    void slidingWindowBoundsTheContext() throws Exception {
        try (LoadedModel m = ModelLoader.load(hf("mistral", c -> c.put("sliding_window", 128)))) {
            assertEquals(128, m.config().contextLength());
        }
        try (LoadedModel m = ModelLoader.load(hf("qwen2", c -> c.put("sliding_window", 128).put("use_sliding_window", false)))) {
            assertEquals(512, m.config().contextLength());
        }
        try (LoadedModel m = ModelLoader.load(hf("qwen2", c -> c.put("sliding_window", 128).put("use_sliding_window", true)))) {
            assertEquals(128, m.config().contextLength());
        }
        refused(hf("mistral", c -> c.put("sliding_window", -4)), "sliding_window");
    }

    @Test
    void tokenizerJsonIdsAreChecked() throws Exception {
        Path d = hf("llama", c -> {});
        Path tj = d.resolve("tokenizer.json");
        String good = Files.readString(tj);
        ObjectNode root = (ObjectNode) JSON.readTree(good);
        ((ObjectNode) root.get("model").get("vocab")).put("!", "33");
        Files.writeString(tj, root.toString());
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("model.vocab entry \"!\"") && e.getMessage().contains("not an integer"), e.getMessage());

        root = (ObjectNode) JSON.readTree(good);
        ((ObjectNode) root.get("model").get("vocab")).put("!", 34);
        Files.writeString(tj, root.toString());
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("id 34"), e.getMessage());

        root = (ObjectNode) JSON.readTree(good);
        ((ObjectNode) root.get("model").get("vocab")).put("!", -5);
        Files.writeString(tj, root.toString());
        e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("-5"), e.getMessage());
    }
}
