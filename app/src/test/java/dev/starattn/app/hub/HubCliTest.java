package dev.starattn.app.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.app.cli.ErrorHandler;
import dev.starattn.hub.HubEnvironment;
import dev.starattn.hub.HubTestServer;
import dev.starattn.model.RandomLlamaModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code starattn pull} from a Hub-compatible server on 127.0.0.1, then {@code -m ORG/NAME} and
 * {@code starattn list} on what it wrote: the pull writes the cache that this module's tests see through
 * HF_HUB_CACHE (set by the build to a folder under target/), so the commands resolve the name as a user's would.
 */
class HubCliTest {
    @TempDir Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(CommandLine cl, String... args) {
        StringWriter err = new StringWriter(), picoOut = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(picoOut, true));
        cl.setExecutionExceptionHandler(new ErrorHandler());
        cl.setParameterExceptionHandler(new ErrorHandler());
        int code = cl.execute(args);
        return new Run(code, picoOut.toString(), err.toString());
    }

    private static HubEnvironment env(HubTestServer server) {
        Path cache = Path.of(System.getenv("HF_HUB_CACHE"));
        return HubEnvironment.from(Map.of("HOME", cache.getParent().toString(), "LLAMA_CACHE", System.getenv("LLAMA_CACHE")))
                .with(server.endpoint(), cache, Optional.empty(), false);
    }

    @Test
    void pullThenRunByNameThenList() throws Exception {
        Path gguf = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(tmp.resolve("m.gguf"));
        try (HubTestServer server = new HubTestServer()) {
            server.addRepo("acme/cli-GGUF", "1111111111111111111111111111111111111111",
                    Map.of("cli-Q8_0.gguf", Files.readAllBytes(gguf), "README.md", "x".getBytes()), List.of("cli-Q8_0.gguf"), null);
            Run pulled = run(new CommandLine(new PullCommand(env(server))), "acme/cli-GGUF", "-q");
            assertEquals(0, pulled.code(), pulled.err());
            Path model = Path.of(pulled.out().strip());
            assertTrue(model.endsWith(Path.of("models--acme--cli-GGUF/snapshots/1111111111111111111111111111111111111111/cli-Q8_0.gguf")), pulled.out());

            Run info = run(Main.commandLine(), "info", "-m", "acme/cli-GGUF", "--json");
            assertEquals(0, info.code(), info.err());
            JsonNode j = new ObjectMapper().readTree(info.out());
            assertEquals(64, j.path("dim").asInt(), info.out());
            assertEquals(model.toString(), j.path("path").asText(), "-m acme/cli-GGUF is the pulled file");

            Run list = run(Main.commandLine(), "list", "--json");
            assertEquals(0, list.code(), list.err());
            JsonNode entries = new ObjectMapper().readTree(list.out());
            boolean found = false;
            for (JsonNode e : entries) {
                if (e.path("name").asText().equals("acme/cli-GGUF")) {
                    found = true;
                    assertEquals("llama", e.path("family").asText());
                    assertEquals(Files.size(gguf), e.path("bytes").asLong());
                    assertEquals("1111111111111111111111111111111111111111", e.path("revisions").path("main").asText());
                }
            }
            assertTrue(found, list.out());

            Run missing = run(new CommandLine(new PullCommand(env(server))), "acme/absent", "-q");
            assertEquals(1, missing.code());
            assertEquals("starattn: repository acme/absent was not found on the Hub: check the name, or set HF_TOKEN if it is private (HTTP 404).",
                    missing.err().strip());
        }
    }

    @Test
    void anUncachedNameIsOneSentenceThatSaysHowToPullIt() {
        Run r = run(Main.commandLine(), "info", "-m", "acme/never-pulled");
        assertEquals(2, r.code());
        List<String> lines = r.err().strip().lines().toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.getFirst().startsWith("starattn: acme/never-pulled is not a local path")
                && lines.getFirst().endsWith("download it with `starattn pull acme/never-pulled`."), r.err());
    }

    @Test
    void pullRefusesWhatIsNotARepositoryName() {
        Run r = run(new CommandLine(new PullCommand()), "not-a-repo");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("'not-a-repo' is not a model repository"), r.err());
    }
}
