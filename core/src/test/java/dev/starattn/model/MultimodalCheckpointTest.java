package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyFixture.Style;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gemma 3 4B and up as the Hub ships them (Gemma3ForConditionalGeneration: the text model nested in
 * config.json's text_config beside a vision tower): the text model runs, the vision tower is set aside.
 * The fixture ({@code families/gemma3-mm}, tools/oracle/hf_families.py) holds a tiny vision tower saved by
 * transformers; {@link FamilyOracleTest} checks its logits in both config styles, this test the other
 * tensor layout, what is set aside and the refusals.
 */
class MultimodalCheckpointTest {
    private static final FamilyFixture FIXTURE = FamilyFixture.of("gemma3-mm");

    @TempDir
    Path dir;

    @Test
    void theNamesOfLaterTransformersGiveTheSameLogits() {
        // language_model.model.* (as saved) -> model.language_model.*; vision_tower.* -> model.vision_tower.*, ...
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V4, null,
                n -> n.startsWith("language_model.model.") ? "model.language_model." + n.substring("language_model.model.".length()) : "model." + n);
        try (LoadedModel lm = ModelLoader.load(d)) {
            FamilyOracleTest.assertClose(FIXTURE, FamilyOracleTest.allPositions(lm.model(), FIXTURE.tokens), "model.language_model.* names");
        }
    }

    @Test
    void theVisionTowerIsSetAsideAndTheDefaultsApplied() {
        try (LoadedModel lm = ModelLoader.load(FIXTURE.writeTo(dir.resolve("m"), Style.V4))) {
            HfModelDir h = (HfModelDir) lm.source();
            assertTrue(h.ignoredParts().orElseThrow().contains("vision tower"));
            assertFalse(h.ignoredTensors().isEmpty());
            for (TensorRef t : h.ignoredTensors()) {
                assertTrue(t.name().startsWith("vision_tower.") || t.name().startsWith("multi_modal_projector."), t.name());
            }
            for (TensorRef t : h.tensors()) assertFalse(t.name().contains("vision") || t.name().contains("multi_modal"), t.name());
            DecoderConfig c = lm.config();
            assertEquals("gemma3", c.architecture());
            // Not in config.v4.json's text_config: Gemma3TextConfig's query_pre_attn_scalar (256), not the head size (16).
            assertEquals(256f, c.descriptor().queryPreAttnScalar());
            assertEquals(6, c.layers());
        }
    }

    @Test
    void aWrapperWithoutItsTextConfigIsRefusedInOneSentence() {
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V5, cfg -> cfg.replace("\"text_config\"", "\"text_config_x\""));
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("no text_config object"), e.getMessage());
    }

    @Test
    void aQuantizedWrapperIsRefusedByTheOuterField() {
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V5,
                cfg -> cfg.replaceFirst("\\{", "{\"quantization_config\": {\"quant_method\": \"bitsandbytes\"},"));
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("quantization_config"), e.getMessage());
    }

    @Test
    void aFieldOfTheTextConfigIsNamedWithItsObject() {
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V5, cfg -> cfg.replace("\"hidden_activation\": \"gelu_pytorch_tanh\"", "\"hidden_activation\": \"relu\""));
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("text_config.hidden_activation is \"relu\""), e.getMessage());
    }

    @Test
    void aTensorOfNoKnownPartIsRefused() {
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V5, null, n -> n.startsWith("multi_modal_projector.") ? "audio_tower." + n : n);
        var e = assertThrows(ModelFormatException.class, () -> ModelLoader.load(d).close());
        assertTrue(e.getMessage().contains("audio_tower."), e.getMessage());
    }
}
