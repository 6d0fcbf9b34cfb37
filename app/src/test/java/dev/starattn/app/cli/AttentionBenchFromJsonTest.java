package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench attention --from-json}: rows of separate runs merged into one table, JSON and plot. */
class AttentionBenchFromJsonTest {
    @TempDir Path dir;

    static String run(int n, double ringMs, double starMs) {
        return """
            {"rows": [
              {"n": %d, "h": 8, "mode": "ring", "wallMs": 1, "critMs": %s, "ttftMs": 1, "decodeTps": 1,
               "critGflopMeasured": 10, "critGflopPredicted": 10, "totalGflopMeasured": 20, "bytesMoved": 0},
              {"n": %d, "h": 8, "mode": "star", "wallMs": 1, "critMs": %s, "ttftMs": 1, "decodeTps": 1,
               "critGflopMeasured": 5, "critGflopPredicted": 5, "totalGflopMeasured": 20, "bytesMoved": 0}]}
            """.formatted(n, ringMs, n, starMs);
    }

    @Test
    void mergesRunsIntoOneJsonAndPlot() throws Exception {
        Path a = Files.writeString(dir.resolve("a.json"), run(32768, 50, 25));
        Path b = Files.writeString(dir.resolve("b.json"), run(65536, 200, 80));
        Path png = dir.resolve("all.png"), merged = dir.resolve("all.json");
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("bench", "attention", "--from-json", a + "," + b, "--plot", png.toString(), "--json", merged.toString());
        assertEquals(0, code, err.toString());
        JsonNode j = new ObjectMapper().readTree(merged.toFile());
        assertEquals(4, j.get("rows").size());
        assertEquals(65536, j.get("rows").get(3).get("n").asInt());
        byte[] head = Files.readAllBytes(png);
        assertTrue(head.length > 1000 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G', "a PNG was written");
    }

    @Test
    void aFileThatIsNotABenchResultIsOneClearError() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"model\": \"x\"}");
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("bench", "attention", "--from-json", bad.toString());
        assertNotEquals(0, code);
        assertTrue(err.toString().contains("has no \"rows\" array"), err.toString());
    }
}
