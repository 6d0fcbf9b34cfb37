package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.testutil.InMemoryModel;
import dev.starattn.testutil.ReferenceForward;
import dev.starattn.testutil.SafetensorsWriter;
import dev.starattn.tokenizer.BpeTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Hugging Face directory (config.json, safetensors, tokenizer.json) loads and runs with
 * Hugging Face's conventions: rotate-half RoPE, Llama 3.1 rope scaling from config.json.
 */
class HfForwardTest {
    @TempDir
    Path dir;

    @Test
    void safetensorsModelMatchesReference() throws Exception {
        int vocab = 300;
        LlamaConfig c = new LlamaConfig("llama", 64, 2, 4, 2, 16, 96, vocab, 512, 1e-5f, 10000f, 16, true,
                LlamaConfig.defaultInvFreq(10000f, 16), false, false);
        InMemoryModel m = new InMemoryModel(c, 21);
        SafetensorsWriter w = new SafetensorsWriter();
        for (Map.Entry<String, float[]> e : m.arrays.entrySet()) {
            String name = e.getKey();
            long[] shape = shape(c, name);
            w.addF32(hfName(name), shape, e.getValue());
        }
        w.write(dir.resolve("model.safetensors"));
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = om.createObjectNode();
        cfg.put("model_type", "llama").put("hidden_size", 64).put("num_hidden_layers", 2).put("num_attention_heads", 4)
                .put("num_key_value_heads", 2).put("intermediate_size", 96).put("vocab_size", vocab)
                .put("max_position_embeddings", 512).put("rms_norm_eps", 1e-5).put("rope_theta", 10000.0)
                .put("tie_word_embeddings", false);
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        Files.writeString(dir.resolve("tokenizer.json"), byteLevelTokenizer(om, vocab));
        try (LoadedModel lm = ModelLoader.load(dir)) {
            assertTrue(lm.source() instanceof HfModelDir);
            assertTrue(lm.config().ropeNeox(), "safetensors models use rotate-half RoPE");
            int[] tokens = new Random(2).ints(29, 0, 256).toArray();
            int[] pos = new int[tokens.length];
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            double[][] ref = new ReferenceForward(c, m.arrays).logits(tokens, pos);
            InferenceEngine e = new InferenceEngine(lm.model(), EngineOptions.dense());
            var enc = e.encode(java.util.Arrays.copyOf(tokens, 25), ProgressListener.NONE);
            var res = e.generate(enc, java.util.Arrays.copyOfRange(tokens, 25, 29), SamplingOptions.greedy(), 1, t -> false, t -> {});
            double err = ForwardTest.relError(ref[28], res.firstLogits());
            assertTrue(err < 1e-4, "relative logit error " + err);
            // The tokenizer from tokenizer.json round-trips text.
            String text = "héllo wörld 123";
            assertEquals(text, lm.tokenizer().decode(lm.tokenizer().encode(text)));
        }
        // Without tokenizer.json the model still loads and runs on token ids; text is refused in one sentence.
        Files.delete(dir.resolve("tokenizer.json"));
        try (LoadedModel lm = ModelLoader.load(dir)) {
            var e = assertThrows(dev.starattn.format.ModelFormatException.class, () -> lm.tokenizer().encode("hello"));
            assertTrue(e.getMessage().contains("has no tokenizer.json") && e.getMessage().contains("--context-tokens"), e.getMessage());
            assertEquals("<5><17>", lm.tokenizer().decode(new int[] {5, 17}));
            assertEquals(vocab, lm.tokenizer().vocabSize());
            InferenceEngine eng = new InferenceEngine(lm.model(), EngineOptions.dense());
            int[] tokens = new Random(2).ints(29, 0, 256).toArray();
            var enc = eng.encode(java.util.Arrays.copyOf(tokens, 25), ProgressListener.NONE);
            var res = eng.generate(enc, java.util.Arrays.copyOfRange(tokens, 25, 29), SamplingOptions.greedy(), 1, t -> false, t -> {});
            double[][] ref = new ReferenceForward(c, m.arrays).logits(tokens, java.util.stream.IntStream.range(0, 29).toArray());
            assertTrue(ForwardTest.relError(ref[28], res.firstLogits()) < 1e-4);
        }
    }

    @Test
    void llama31RopeScalingIsReadFromConfig() {
        float[] inv = LlamaConfig.defaultInvFreq(500000f, 128);
        float[] scaled = LlamaConfig.llama3ScaledInvFreq(inv, 8, 1, 4, 8192);
        assertEquals(inv[0], scaled[0], 0f, "high frequencies are kept");
        assertEquals(inv[63] / 8, scaled[63], 1e-12, "low frequencies are divided by the factor");
        for (int i = 0; i < inv.length; i++) assertTrue(scaled[i] <= inv[i] && scaled[i] >= inv[i] / 8);
    }

    static long[] shape(LlamaConfig c, String name) {
        if (name.endsWith("norm.weight")) return new long[] {c.dim()};
        if (name.equals("token_embd.weight") || name.equals("output.weight")) return new long[] {c.vocabSize(), c.dim()};
        if (name.contains("attn_q.")) return new long[] {c.qDim(), c.dim()};
        if (name.contains("attn_k.") || name.contains("attn_v.")) return new long[] {c.kvDim(), c.dim()};
        if (name.contains("attn_output")) return new long[] {c.dim(), c.qDim()};
        if (name.contains("ffn_down")) return new long[] {c.dim(), c.ffnDim()};
        return new long[] {c.ffnDim(), c.dim()};
    }

    static String hfName(String gguf) {
        if (gguf.equals("token_embd.weight")) return "model.embed_tokens.weight";
        if (gguf.equals("output_norm.weight")) return "model.norm.weight";
        if (gguf.equals("output.weight")) return "lm_head.weight";
        String[] p = gguf.split("\\.", 3);
        String l = "model.layers." + p[1] + ".";
        return switch (p[2]) {
            case "attn_norm.weight" -> l + "input_layernorm.weight";
            case "ffn_norm.weight" -> l + "post_attention_layernorm.weight";
            case "attn_q.weight" -> l + "self_attn.q_proj.weight";
            case "attn_k.weight" -> l + "self_attn.k_proj.weight";
            case "attn_v.weight" -> l + "self_attn.v_proj.weight";
            case "attn_output.weight" -> l + "self_attn.o_proj.weight";
            case "ffn_gate.weight" -> l + "mlp.gate_proj.weight";
            case "ffn_up.weight" -> l + "mlp.up_proj.weight";
            case "ffn_down.weight" -> l + "mlp.down_proj.weight";
            default -> throw new IllegalArgumentException(gguf);
        };
    }

    /** A byte-level BPE tokenizer.json: the 256 byte symbols, no merges, special tokens after them. */
    static String byteLevelTokenizer(ObjectMapper om, int vocab) {
        ObjectNode root = om.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        ObjectNode v = model.putObject("vocab");
        for (int b = 0; b < 256; b++) v.put(String.valueOf(BpeTokenizer.byteToChar(b)), b);
        for (int i = 256; i < vocab; i++) v.put("<|reserved_" + i + "|>", i);
        model.putArray("merges");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false);
        root.putObject("decoder").put("type", "ByteLevel");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 256; i < vocab; i++) added.addObject().put("id", i).put("content", "<|reserved_" + i + "|>").put("special", true);
        return root.toString();
    }
}
