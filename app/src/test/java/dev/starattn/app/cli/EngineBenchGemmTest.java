package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GemmBackends;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench engine --gemm java,native}: both engines measured in one run, each reported under by_gemm. */
class EngineBenchGemmTest {
    @TempDir Path dir;

    @AfterEach
    void restore() {
        GemmBackends.select("auto");
    }

    @Test
    void bothEnginesAreMeasuredAndNamed() throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(1).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        Path json = dir.resolve("out.json");
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("bench", "engine", "-m", m.toString(), "--prompt", String.valueOf(GemmBackends.minBatch()),
                "--decode", "2", "--repeats", "1", "--gemm", "java,native", "--json", json.toString());
        assertEquals(0, code, err.toString());
        JsonNode j = new ObjectMapper().readTree(Files.readString(json));
        assertEquals("java", j.get("gemm").asText());
        JsonNode by = j.get("by_gemm");
        assertEquals(2, by.size());
        assertTrue(by.get("java").get("engine").asText().startsWith("java"), by.toString());
        assertTrue(by.get("native").get("engine").asText().startsWith("native: OpenBLAS"), by.toString());
        for (String k : new String[] {"java", "native"}) {
            assertTrue(by.get(k).get("prefill_tokens_per_s").asDouble() > 0, k);
            assertEquals(1, by.get(k).get("prefill_runs").size(), k);
        }
        assertNotEquals(by.get("java").get("engine"), by.get("native").get("engine"));
    }

    @Test
    void anUnknownEngineIsRefused() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute("bench", "engine", "--random", "tiny", "--gemm", "mkl");
        assertNotEquals(0, code);
        assertTrue(err.toString().contains("--gemm takes java, native or auto"), err.toString());
    }
}
