package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.format.gguf.GgufFile;
import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyFixture.Style;
import dev.starattn.testutil.FamilyGguf;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The families as llama.cpp names them in GGUF ({@code llama} tied, {@code qwen2}, {@code qwen3},
 * {@code gemma2}, {@code gemma3}): each fixture written as llama.cpp's converter writes it
 * ({@link FamilyGguf}) gives transformers' logits at every position, read through llama.cpp's
 * metadata keys and conventions (Gemma's 1 + w stored in the norms, Llama's permuted Q/K,
 * rope_freqs for Llama 3 scaling). (llama.cpp's own run of these files: {@code FamilyLlamaCppOracleTest}.)
 */
class FamilyGgufTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama3.2", "qwen2.5", "qwen3", "gemma3"})
    void ggufGivesTransformersLogits(String family) {
        FamilyFixture f = FamilyFixture.of(family);
        Path gguf = FamilyGguf.write(f.writeTo(dir.resolve("hf"), Style.V5), dir.resolve(family + ".gguf"));
        try (LoadedModel m = ModelLoader.load(gguf)) {
            assertTrue(m.source() instanceof GgufFile, "loaded as GGUF");
            FamilyOracleTest.assertClose(f, FamilyOracleTest.allPositions(m.model(), f.tokens), "GGUF dense forward");
        }
    }

    /**
     * GGUF has no query_pre_attn_scalar: llama.cpp scales Gemma's queries by the head size (by dim/heads
     * in the 27B models), and so do we for a GGUF. The Gemma 2 fixture's 24 (head size 16) is therefore
     * not expressible in GGUF: its logits differ from transformers', and equal those of the same fixture
     * with query_pre_attn_scalar 16 in config.json.
     */
    @Test
    void ggufGemma2ScalesQueriesByTheHeadSizeAsLlamaCppDoes() {
        FamilyFixture f = FamilyFixture.of("gemma2");
        Path gguf = FamilyGguf.write(f.writeTo(dir.resolve("hf"), Style.V5), dir.resolve("gemma2.gguf"));
        Path hf16 = f.writeTo(dir.resolve("hf16"), Style.V5, c -> c.replace("\"query_pre_attn_scalar\": 24", "\"query_pre_attn_scalar\": 16"));
        try (LoadedModel g = ModelLoader.load(gguf); LoadedModel h = ModelLoader.load(hf16)) {
            assertEquals(16f, g.config().descriptor().queryPreAttnScalar());
            float[][] a = FamilyOracleTest.allPositions(g.model(), f.tokens), b = FamilyOracleTest.allPositions(h.model(), f.tokens);
            double d = 0;
            for (int p = 0; p < a.length; p++) for (int i = 0; i < a[p].length; i++) d = Math.max(d, Math.abs(a[p][i] - b[p][i]));
            assertTrue(d < 1e-5, "GGUF gemma2 vs config.json gemma2 with query_pre_attn_scalar 16: " + d);
            assertTrue(FamilyOracleTest.maxAbsDiff(f, a) > 1e-3, "24 vs 16 changes the logits");
        }
        try (GgufFile gf = GgufFile.open(gguf)) {
            assertEquals("gemma2", gf.metadata().get("general.architecture"));
        }
    }
}
