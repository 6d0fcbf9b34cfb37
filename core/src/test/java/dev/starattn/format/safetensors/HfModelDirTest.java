package dev.starattn.format.safetensors;

import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.tensor.GgmlType;
import dev.starattn.tensor.Quantizers;
import dev.starattn.testutil.ReferenceDequant;
import dev.starattn.testutil.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

class HfModelDirTest {
    @TempDir Path dir;

    private static float[] seq(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i * 0.5f - 1;
        return x;
    }

    private void config() throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"model_type\":\"llama\",\"hidden_size\":4,\"num_hidden_layers\":1}");
    }

    private static ModelFormatException assertBad(Executable e, String... parts) {
        ModelFormatException x = assertThrows(ModelFormatException.class, e);
        for (String part : parts) {
            assertTrue(x.getMessage().contains(part), () -> "message <" + x.getMessage() + "> lacks <" + part + ">");
        }
        return x;
    }

    @Test
    void ggufNames() {
        assertEquals("token_embd.weight", HfModelDir.ggufName("model.embed_tokens.weight"));
        assertEquals("output_norm.weight", HfModelDir.ggufName("model.norm.weight"));
        assertEquals("output.weight", HfModelDir.ggufName("lm_head.weight"));
        assertEquals("blk.12.attn_norm.weight", HfModelDir.ggufName("model.layers.12.input_layernorm.weight"));
        assertEquals("blk.0.attn_q.weight", HfModelDir.ggufName("model.layers.0.self_attn.q_proj.weight"));
        assertEquals("blk.0.attn_k.bias", HfModelDir.ggufName("model.layers.0.self_attn.k_proj.bias"));
        assertEquals("blk.0.attn_v.weight", HfModelDir.ggufName("model.layers.0.self_attn.v_proj.weight"));
        assertEquals("blk.3.attn_output.weight", HfModelDir.ggufName("model.layers.3.self_attn.o_proj.weight"));
        assertEquals("blk.3.ffn_norm.weight", HfModelDir.ggufName("model.layers.3.post_attention_layernorm.weight"));
        assertEquals("blk.3.ffn_gate.weight", HfModelDir.ggufName("model.layers.3.mlp.gate_proj.weight"));
        assertEquals("blk.3.ffn_up.weight", HfModelDir.ggufName("model.layers.3.mlp.up_proj.weight"));
        assertEquals("blk.3.ffn_down.weight", HfModelDir.ggufName("model.layers.3.mlp.down_proj.weight"));
        assertEquals("model.layers.0.self_attn.rotary_emb.inv_freq", HfModelDir.ggufName("model.layers.0.self_attn.rotary_emb.inv_freq"));
    }

    @Test
    void singleFile() throws Exception {
        config();
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        float[] q = seq(12);
        new SafetensorsWriter()
                .metadata(Map.of("format", "pt"))
                .addF32("model.layers.0.self_attn.q_proj.weight", new long[] {3, 4}, q)
                .add("model.embed_tokens.weight", "BF16", new long[] {5, 4}, Quantizers.quantize(GgmlType.BF16, seq(20)))
                .add("model.norm.weight", "F16", new long[] {4}, Quantizers.quantize(GgmlType.F16, seq(4)))
                .write(dir.resolve("model.safetensors"));
        try (HfModelDir m = HfModelDir.open(dir)) {
            assertEquals("llama", m.config().get("model_type").asText());
            assertEquals(dir.resolve("tokenizer.json"), m.tokenizerJson());
            assertNull(m.tokenizerConfigJson());
            TensorRef t = m.require("blk.0.attn_q.weight");
            assertEquals(GgmlType.F32, t.type());
            assertArrayEquals(new long[] {4, 3}, t.dims()); // reversed: cols first
            assertEquals(4, t.cols());
            assertEquals(3, t.rows());
            double[] y = ReferenceDequant.dequantize(t.type(), t.data(), t.elements());
            for (int i = 0; i < 12; i++) assertEquals(q[i], y[i]); // no Q/K permutation
            assertEquals(GgmlType.BF16, m.require("token_embd.weight").type());
            assertArrayEquals(new long[] {4, 5}, m.require("token_embd.weight").dims());
            assertEquals(GgmlType.F16, m.require("output_norm.weight").type());
            assertEquals(Map.of("format", "pt"), m.files().get(0).metadata());
            assertEquals("model.norm.weight", m.hfName("output_norm.weight").orElseThrow());
            assertTrue(m.find("output.weight").isEmpty());
            assertBad(() -> m.require("output.weight"), "tensor output.weight is missing from", dir.toString());
            assertEquals(3, m.tensors().size());
        }
        // opening via a file inside the directory works too
        try (HfModelDir m = HfModelDir.open(dir.resolve("model.safetensors"))) {
            assertEquals(3, m.tensors().size());
        }
    }

    @Test
    void shardsWithIndex() throws Exception {
        config();
        new SafetensorsWriter().addF32("model.embed_tokens.weight", new long[] {2, 4}, seq(8))
                .addF32("model.layers.0.mlp.up_proj.weight", new long[] {8, 4}, seq(32))
                .write(dir.resolve("model-00001-of-00002.safetensors"));
        new SafetensorsWriter().addF32("lm_head.weight", new long[] {2, 4}, seq(8))
                .write(dir.resolve("model-00002-of-00002.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 192}, "weight_map": {
                  "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                  "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors",
                  "lm_head.weight": "model-00002-of-00002.safetensors"}}""");
        try (HfModelDir m = HfModelDir.open(dir)) {
            assertEquals(2, m.files().size());
            assertArrayEquals(new long[] {4, 8}, m.require("blk.0.ffn_up.weight").dims());
            assertArrayEquals(new long[] {4, 2}, m.require("output.weight").dims());
            assertNull(m.tokenizerJson());
        }
        // index names a tensor the shard does not have
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}}""");
        assertBad(() -> HfModelDir.open(dir), "lm_head.weight", "model-00001-of-00002.safetensors", "does not contain it");
        // missing shard
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"lm_head.weight": "model-00003-of-00003.safetensors"}}""");
        assertBad(() -> HfModelDir.open(dir), "shard model-00003-of-00003.safetensors", "is missing");
        // shard outside the directory
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"lm_head.weight": "../evil.safetensors"}}""");
        assertBad(() -> HfModelDir.open(dir), "../evil.safetensors", "not a file in");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{\"weight_map\": [1]}");
        assertBad(() -> HfModelDir.open(dir), "has no weight_map");
        Files.writeString(dir.resolve("model.safetensors.index.json"), "{not json");
        assertBad(() -> HfModelDir.open(dir), "model.safetensors.index.json is not valid JSON");
    }

    @Test
    void duplicateTensorsAcrossShards() throws Exception {
        config();
        new SafetensorsWriter().addF32("lm_head.weight", new long[] {1, 4}, seq(4)).write(dir.resolve("a.safetensors"));
        new SafetensorsWriter().addF32("lm_head.weight", new long[] {1, 4}, seq(4)).write(dir.resolve("b.safetensors"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"weight_map": {"lm_head.weight": "a.safetensors", "x": "b.safetensors"}}""");
        assertBad(() -> HfModelDir.open(dir), "'x'", "b.safetensors");
    }

    @Test
    void missingPieces() throws Exception {
        assertBad(() -> HfModelDir.open(dir), "has no config.json");
        assertBad(() -> HfModelDir.open(dir.resolve("nope")), "does not exist");
        Files.writeString(dir.resolve("config.json"), "[1,");
        assertBad(() -> HfModelDir.open(dir), "config.json is not valid JSON");
        config();
        assertBad(() -> HfModelDir.open(dir), "has neither model.safetensors nor model.safetensors.index.json");
    }

    // ------------------------------------------------------------ bad safetensors files

    private ModelFormatException bad(byte[] bytes, String... parts) throws Exception {
        Path p = dir.resolve("bad.safetensors");
        Files.write(p, bytes);
        String[] all = Arrays.copyOf(parts, parts.length + 1);
        all[parts.length] = "bad.safetensors";
        return assertBad(() -> SafetensorsFile.open(p).close(), all);
    }

    @Test
    void lyingHeaderLength() throws Exception {
        bad(new SafetensorsWriter().addF32("a", new long[] {2}, seq(2)).overrideHeaderLength(1L << 40).toBytes(),
                "header claims 1099511627776 bytes");
        bad(new SafetensorsWriter().addF32("a", new long[] {2}, seq(2)).overrideHeaderLength(-1L).toBytes(),
                "header claims 18446744073709551615 bytes");
        bad(new byte[] {1, 2, 3}, "is truncated");
        bad(new byte[0], "is truncated");
        // header length within the file but > 100 MB is checked without reading it: sparse file
        Path p = dir.resolve("bad.safetensors");
        Files.write(p, new SafetensorsWriter().overrideHeaderLength(200_000_000L).toBytes());
        try (var raf = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(300_000_000L);
        }
        assertBad(() -> SafetensorsFile.open(p), "more than the 100000000");
    }

    @Test
    void badHeaders() throws Exception {
        bad(new SafetensorsWriter().toBytes("{\"a\": "), "header is not valid JSON");
        bad(new SafetensorsWriter().toBytes("[1,2]"), "header is not a JSON object");
        bad(new SafetensorsWriter().toBytes("{\"a\": 5}"), "tensor 'a'", "not an object");
        bad(new SafetensorsWriter().toBytes("{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}"), "tensor 'a' has no dtype");
        bad(new SafetensorsWriter().toBytes("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}"), "tensor 'a' has no shape");
        bad(new SafetensorsWriter().toBytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}"), "tensor 'a' has no valid data_offsets");
        bad(new SafetensorsWriter().toBytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}"), "tensor 'a' has an invalid shape");
        bad(new SafetensorsWriter().toBytes("{\"__metadata__\": 3}"), "__metadata__ is not an object");
    }

    @Test
    void offsetsPastEndOfFile() throws Exception {
        bad(new SafetensorsWriter().addF32("a", new long[] {2}, seq(2)).addRaw("b", "F32", new long[] {4}, 8, 24).toBytes(),
                "is truncated", "tensor 'b'", "past the end of its 8 data bytes");
        bad(new SafetensorsWriter().addRaw("b", "F32", new long[] {1L << 40}, 0, 1L << 42).toBytes(), "tensor 'b'", "past the end");
        bad(new SafetensorsWriter().addF32("a", new long[] {2}, seq(2)).addRaw("b", "F32", new long[] {2}, 8, 0).toBytes(),
                "tensor 'b'", "not an ascending pair");
        bad(new SafetensorsWriter().addF32("a", new long[] {4}, seq(4)).addRaw("b", "F32", new long[] {3}, 0, 16).toBytes(),
                "tensor 'b'", "needs 12 bytes", "span 16");
        bad(new SafetensorsWriter().addRaw("b", "F32", new long[] {1L << 62, 1L << 62}, 0, 0).toBytes(), "tensor 'b'", "overflows");
    }

    @Test
    void unsupportedDtype() throws Exception {
        var e = bad(new SafetensorsWriter().add("model.layers.0.mlp.up_proj.weight", "I64", new long[] {1}, new byte[8]).toBytes(),
                "tensor 'model.layers.0.mlp.up_proj.weight'", "has dtype I64, which starattn does not support (supported: F32, F16, BF16)");
        assertFalse(e.getMessage().contains("corrupt"));
    }

    @Test
    void scalarAndEmptyTensors() throws Exception {
        Path p = dir.resolve("s.safetensors");
        new SafetensorsWriter().addF32("s", new long[] {}, new float[] {7}).addF32("e", new long[] {0, 3}, new float[0]).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new long[] {1}, f.find("s").orElseThrow().dims());
            assertEquals(1, f.find("s").orElseThrow().elements());
            assertArrayEquals(new long[] {3, 0}, f.find("e").orElseThrow().dims());
            assertEquals(0, f.find("e").orElseThrow().elements());
            assertEquals(0, f.dataOffset() % 8);
        }
    }
}
