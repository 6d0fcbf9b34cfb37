package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.app.Main;
import dev.starattn.testutil.RepoPaths;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The README's main job on the shipped model: the model retrieves (models/MODEL_CARD.md), so star
 * attention over 4 in-process hosts must find the needle and agree with dense attention.
 */
class DemoCommandTest {
    @Test
    void starFindsTheNeedleAndAgreesWithDense() {
        Path root = RepoPaths.root();
        String oldHome = System.getProperty("starattn.home");
        PrintStream oldOut = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code;
        try {
            System.setProperty("starattn.home", root.toString());
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            code = Main.commandLine().execute("demo", "--tokens", "3000", "--seed", "11");
        } finally {
            System.setOut(oldOut);
            if (oldHome == null) System.clearProperty("starattn.home");
            else System.setProperty("starattn.home", oldHome);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        assertTrue(out.contains("  correct (expected "), out);
        assertTrue(out.contains("Star and dense give the same answer."), out);
    }
}
