package dev.starattn.testutil;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.model.DecoderConfig;
import dev.starattn.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes an {@link InMemoryModel} as a Hugging Face model directory: model.safetensors (f32, Hugging Face tensor
 * names), config.json and, when asked, a byte-level tokenizer.json. For tests of the safetensors path.
 */
public final class HfDirWriter {
    private HfDirWriter() {}

    public static void write(Path dir, DecoderConfig c, InMemoryModel m, boolean withTokenizer) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        for (Map.Entry<String, float[]> e : m.arrays.entrySet()) w.addF32(hfName(e.getKey()), shape(c, e.getKey()), e.getValue());
        Files.createDirectories(dir);
        w.write(dir.resolve("model.safetensors"));
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = om.createObjectNode();
        cfg.put("model_type", "llama").put("hidden_size", c.dim()).put("num_hidden_layers", c.layers())
                .put("num_attention_heads", c.heads()).put("num_key_value_heads", c.kvHeads()).put("intermediate_size", c.ffnDim())
                .put("vocab_size", c.vocabSize()).put("max_position_embeddings", c.contextLength()).put("rms_norm_eps", c.rmsEps())
                .put("rope_theta", c.ropeBase()).put("tie_word_embeddings", false);
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        if (withTokenizer) Files.writeString(dir.resolve("tokenizer.json"), byteLevelTokenizer(om, c.vocabSize()));
    }

    static long[] shape(DecoderConfig c, String name) {
        if (name.endsWith("norm.weight")) return new long[] {c.dim()};
        if (name.endsWith("attn_q.bias")) return new long[] {c.qDim()};
        if (name.endsWith("attn_k.bias") || name.endsWith("attn_v.bias")) return new long[] {c.kvDim()};
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
            case "attn_q.bias" -> l + "self_attn.q_proj.bias";
            case "attn_k.bias" -> l + "self_attn.k_proj.bias";
            case "attn_v.bias" -> l + "self_attn.v_proj.bias";
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
