package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.testutil.FamilyFixture;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code info} on a Gemma 3 checkpoint with a vision tower (core's gemma3-mm fixture) says the tower is not run. */
class InfoMultimodalTest {
    @TempDir Path dir;

    @Test
    void infoSaysTheVisionTowerIsIgnored() {
        Path m = FamilyFixture.of("gemma3-mm").writeTo(dir.resolve("gemma3-mm"), FamilyFixture.Style.V4);
        CliInputTest.Run r = CliInputTest.run("info", "-m", m.toString());
        assertEquals(0, r.code(), r.err());
        String ignored = r.out().lines().filter(l -> l.startsWith("ignored ")).findFirst().orElseThrow(() -> new AssertionError(r.out()));
        // The fixture's SigLIP tower: 32 tensors, and the projector's 2 (the sizes are hf_families.py's vision_config).
        assertTrue(ignored.contains("the vision tower and its projector (34 tensors, 6032 parameters)"), ignored);
        assertTrue(ignored.endsWith("starattn runs the text model only"), ignored);
        assertTrue(r.out().lines().anyMatch(l -> l.matches("architecture\\s+gemma3")), r.out());
    }
}
