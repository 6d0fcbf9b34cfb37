package dev.starattn.model.family;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.model.DecoderConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FamiliesTest {
    private static final RopeSpec ROPE = new RopeSpec(10000f, 16, true, DecoderConfig.defaultInvFreq(10000f, 16));

    @Test
    void registryAnswersToEachFormatsNames() {
        assertEquals("llama, mistral, qwen2, qwen3, gemma2 and gemma3", Families.names());
        assertEquals(Qwen2Family.FAMILY, Families.forGgufArchitecture("qwen2").orElseThrow());
        assertEquals(MistralFamily.FAMILY, Families.forHfModelType("mistral").orElseThrow());
        assertEquals(GemmaFamilies.GEMMA3, Families.forHfModelType("gemma3_text").orElseThrow());
        assertEquals(GemmaFamilies.GEMMA3, Families.forGgufArchitecture("gemma3").orElseThrow());
        assertFalse(Families.forHfModelType("gemma3").isPresent(), "the multimodal gemma3 config nests the text model");
        assertFalse(Families.forGgufArchitecture("phi3").isPresent());
        assertThrows(IllegalArgumentException.class, () -> Families.named("phi3"));
    }

    @Test
    void tensorNamesByRoleInBothFormats() {
        TensorNames n = LlamaFamily.TENSORS;
        assertEquals("blk.7.ffn_down.weight", n.gguf(TensorRole.FFN_DOWN, 7));
        assertEquals("token_embd.weight", n.gguf(TensorRole.TOKEN_EMBEDDING));
        assertEquals("blk.7.ffn_down.weight", n.ggufFromHf("model.layers.7.mlp.down_proj.weight"));
        assertEquals("output.weight", n.ggufFromHf("lm_head.weight"));
        assertEquals("model.layers.0.self_attn.rotary_emb.inv_freq", n.ggufFromHf("model.layers.0.self_attn.rotary_emb.inv_freq"));
        assertThrows(IllegalArgumentException.class, () -> n.gguf(TensorRole.ATTN_Q));
    }

    @Test
    void standardArchitectureIsTheSupportedNetwork() {
        Architecture a = Architecture.standard(Qwen2Family.FAMILY, 1e-6f, ROPE, 3, true, false);
        assertEquals(3, a.layerTypes().size());
        assertTrue(a.qkvBias());
        assertEquals(ROPE, a.rope(2));
        assertEquals(1f, a.embeddingScale());
    }

    @Test
    void refusesWhatTheForwardPassesDoNotCompute() {
        Family f = LlamaFamily.FAMILY;
        List<Architecture.LayerType> full = List.of(Architecture.LayerType.FULL_ATTENTION);
        Map<Architecture.LayerType, RopeSpec> rope = Map.of(Architecture.LayerType.FULL_ATTENTION, ROPE);
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.LAYER_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, 0, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, Float.NaN, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, 0, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 0, full, rope, 0, 0, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, List.of(Architecture.LayerType.SLIDING_ATTENTION), rope, 0, 0, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 4096, 0, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, -50, 0, false, false, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, 0, Float.POSITIVE_INFINITY, false, false, false, false, false, false, 0));
        // Gemma's network is expressible, and not Llama-shaped (the GPU model refuses it).
        Architecture gemma = new Architecture(f, Architecture.Norm.RMS_NORM, 1, 1e-6f, Architecture.Activation.GELU_TANH, 8,
                List.of(Architecture.LayerType.SLIDING_ATTENTION, Architecture.LayerType.FULL_ATTENTION),
                Map.of(Architecture.LayerType.FULL_ATTENTION, ROPE, Architecture.LayerType.SLIDING_ATTENTION, ROPE),
                4096, 50, 30, false, false, false, true, false, true, 256);
        assertEquals(4096, gemma.window(0));
        assertEquals(0, gemma.window(1));
        assertTrue(!gemma.llamaShaped());
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, 0, 0, false, true, false, false, false, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Architecture(f, Architecture.Norm.RMS_NORM, 0, 1e-5f,
                Architecture.Activation.SILU, 1, full, rope, 0, 0, 0, false, false, true, false, false, false, 0));
    }
}
