package dev.starattn.testutil;

import dev.starattn.model.RandomLlamaModel;
import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class RandomLlamaModelTest {
    @TempDir Path dir;

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void writesLoadableLlama(GgmlType type) {
        RandomLlamaModel m = new RandomLlamaModel().dim(256).layers(2).heads(4).kvHeads(2).ffnDim(512)
                .vocab(300).weightType(type).seed(5);
        Path p = m.write(dir.resolve("m.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(3, f.version());
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(256, f.getInt("llama.embedding_length"));
            assertEquals(2, f.getInt("llama.block_count"));
            assertEquals(512, f.getInt("llama.feed_forward_length"));
            assertEquals(4, f.getInt("llama.attention.head_count"));
            assertEquals(2, f.getInt("llama.attention.head_count_kv"));
            assertEquals(2048, f.getInt("llama.context_length"));
            assertEquals(64, f.getInt("llama.rope.dimension_count"));
            assertEquals(10000f, f.getFloat("llama.rope.freq_base"));
            assertEquals(1e-5f, f.getFloat("llama.attention.layer_norm_rms_epsilon"));
            assertEquals(GgufValueType.UINT32, f.valueType("llama.block_count").orElseThrow());
            assertEquals(GgufValueType.UINT32, f.valueType("tokenizer.ggml.bos_token_id").orElseThrow());
            // 2 + per layer 9 + token_embd, output_norm, output
            assertEquals(3 + 2 * 9, f.tensors().size());
            TensorRef q = f.require("blk.1.attn_k.weight");
            assertEquals(type, q.type());
            assertArrayEquals(new long[] {256, 128}, q.dims());
            assertArrayEquals(new long[] {512, 256}, f.require("blk.0.ffn_down.weight").dims());
            assertArrayEquals(new long[] {256, 300}, f.require("output.weight").dims());
            assertEquals(GgmlType.F32, f.require("blk.0.attn_norm.weight").type());
            assertTrue(f.find("blk.0.attn_q.bias").isEmpty());
            for (TensorRef t : f.tensors()) {
                float[] x = m.weights().get(t.name());
                double[] y = ReferenceDequant.dequantize(t.type(), t.data(), t.elements());
                double err = 0, sig = 0;
                for (int i = 0; i < x.length; i++) {
                    err += (y[i] - x[i]) * (y[i] - x[i]);
                    sig += (double) x[i] * x[i];
                }
                assertTrue(Math.sqrt(err / sig) < 0.12, t.name());
            }
        }
    }

    @Test
    void qwen2TiedWithBiasesAndV2() {
        RandomLlamaModel m = new RandomLlamaModel().arch("qwen2").dim(64).heads(4).kvHeads(1).ffnDim(96).layers(1)
                .vocab(1000).tied(true).ggufVersion(2).ropeBase(1e6f).rmsEps(1e-6f).weightType(GgmlType.Q8_0);
        try (GgufFile f = GgufFile.open(m.write(dir.resolve("q.gguf")))) {
            assertEquals(2, f.version());
            assertEquals("qwen2", f.getString("general.architecture"));
            assertEquals(1e6f, f.getFloat("qwen2.rope.freq_base"));
            assertTrue(f.find("output.weight").isEmpty());
            assertArrayEquals(new long[] {64}, f.require("blk.0.attn_q.bias").dims());
            assertArrayEquals(new long[] {16}, f.require("blk.0.attn_k.bias").dims());
            assertArrayEquals(new long[] {16}, f.require("blk.0.attn_v.bias").dims());
            assertEquals(GgmlType.F32, f.require("blk.0.attn_v.bias").type());
            String[] tokens = f.getStringArray("tokenizer.ggml.tokens");
            assertEquals(1000, tokens.length);
            assertEquals(1000, new HashSet<>(List.of(tokens)).size(), "tokens are unique");
            assertEquals(1000, f.getFloatArray("tokenizer.ggml.scores").length);
            int[] types = f.getIntArray("tokenizer.ggml.token_type");
            assertEquals(List.of("<unk>", "<s>", "</s>", "<0x00>"), List.of(tokens).subList(0, 4));
            assertEquals("<0xFF>", tokens[258]);
            assertEquals(6, types[3]);
            assertEquals(1, types[259]);
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            assertEquals(1, f.getInt("tokenizer.ggml.bos_token_id"));
            assertEquals(2, f.getInt("tokenizer.ggml.eos_token_id"));
            assertEquals(0, f.getInt("tokenizer.ggml.unknown_token_id"));
        }
    }

    @Test
    void sameSeedSameFile() {
        byte[] a = new RandomLlamaModel().seed(3).build().toBytes();
        byte[] b = new RandomLlamaModel().seed(3).build().toBytes();
        byte[] c = new RandomLlamaModel().seed(4).build().toBytes();
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c));
    }

    @Test
    void rejectsImpossibleShapes() {
        assertThrows(IllegalArgumentException.class, () -> new RandomLlamaModel().dim(64).weightType(GgmlType.Q4_K).build());
        assertThrows(IllegalArgumentException.class, () -> new RandomLlamaModel().dim(60).heads(4).build());
        assertThrows(IllegalArgumentException.class, () -> new RandomLlamaModel().vocab(100).build());
        assertDoesNotThrow(() -> new RandomLlamaModel().vocab(100).tokenizer(false).build());
    }
}
