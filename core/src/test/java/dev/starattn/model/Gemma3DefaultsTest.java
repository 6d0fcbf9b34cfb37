package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyFixture.Style;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A standalone gemma3_text config that leaves out the sliding layers' RoPE base: transformers'
 * Gemma3TextConfig then rotates them with base 10000, not the global base (1e6), and so must we. The
 * fixture states 10000, so removing the field must leave every logit equal to transformers' reference.
 */
class Gemma3DefaultsTest {
    private static final FamilyFixture FIXTURE = FamilyFixture.of("gemma3");

    @TempDir
    Path dir;

    @Test
    void anUnstatedLocalRopeBaseIsTransformersDefault() {
        Path d = FIXTURE.writeTo(dir.resolve("m"), Style.V4, cfg -> {
            String edited = cfg.replaceAll(",\\s*\"rope_local_base_freq\"\\s*:\\s*10000(\\.0)?", "")
                    .replaceAll("\"rope_local_base_freq\"\\s*:\\s*10000(\\.0)?\\s*,", "");
            assertFalse(edited.contains("rope_local_base_freq"), edited);
            return edited;
        });
        try (LoadedModel lm = ModelLoader.load(d)) {
            FamilyOracleTest.assertClose(FIXTURE, FamilyOracleTest.allPositions(lm.model(), FIXTURE.tokens), "no rope_local_base_freq");
        }
    }
}
