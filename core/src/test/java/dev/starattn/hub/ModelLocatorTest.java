package dev.starattn.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.cli.UsageException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code -m}: a local path wins, then the Hub cache's snapshot for the revision, then llama.cpp's cache. */
class ModelLocatorTest {
    @TempDir Path tmp;
    HubTestServer server;
    HubEnvironment env;

    @BeforeEach
    void start() throws Exception {
        server = new HubTestServer();
        HubFixtures.addSafetensorsRepo(server, "acme/tiny", null);
        HubFixtures.addGgufRepo(server, "acme/tiny-GGUF");
        env = HubFixtures.env(server, tmp, null);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private void pull(String spec, FileSelection s) {
        new HubPull(env, DownloadListener.NONE).pull(RepoRef.require(spec), s);
    }

    @Test
    void aLocalPathWins() throws Exception {
        Path file = Files.writeString(tmp.resolve("model.gguf"), "x");
        assertEquals(file, new ModelLocator(env).locate(file.toString(), null));
        Path missing = tmp.resolve("missing.gguf");
        assertEquals(missing, new ModelLocator(env).locate(missing.toString(), null), "not a repository name: the loader reports it");
        assertEquals(Path.of("models/missing.gguf"), new ModelLocator(env).locate("models/missing.gguf", null), "a file name, not a repository");
    }

    @Test
    void aPulledRepositoryResolvesToItsSnapshot() {
        pull("acme/tiny", FileSelection.engineDefault());
        Path snapshot = tmp.resolve("hub/models--acme--tiny/snapshots/" + HubFixtures.SHA);
        ModelLocator locator = new ModelLocator(env);
        assertEquals(snapshot, locator.locate("acme/tiny", null));
        assertEquals(snapshot, locator.locate("acme/tiny@main", null));
        assertEquals(snapshot, locator.locate("acme/tiny@" + HubFixtures.SHA, null));
        UsageException e = assertThrows(UsageException.class, () -> locator.locate("acme/tiny@v2", null));
        assertTrue(e.getMessage().contains("`starattn pull acme/tiny@v2`"), e.getMessage());
    }

    @Test
    void aGgufRepositoryPicksItsFile() {
        pull("acme/tiny-GGUF", new FileSelection(List.of("*.gguf"), null));
        Path snapshot = tmp.resolve("hub/models--acme--tiny-GGUF/snapshots/" + HubFixtures.GGUF_SHA);
        ModelLocator locator = new ModelLocator(env);
        assertEquals(snapshot.resolve("tiny-Q8_0.gguf"), locator.locate("acme/tiny-GGUF", null));
        assertEquals(snapshot.resolve("tiny-Q4_K_M.gguf"), locator.locate("acme/tiny-GGUF", "tiny-Q4_K_M.gguf"));
        assertEquals(snapshot.resolve("tiny-Q4_K_M.gguf"), locator.locate("acme/tiny-GGUF", "q4_k_m"));
        UsageException e = assertThrows(UsageException.class, () -> locator.locate("acme/tiny-GGUF", "Q5_K_S"));
        assertTrue(e.getMessage().contains("no GGUF file matching 'Q5_K_S'") && e.getMessage().contains("tiny-Q8_0.gguf"), e.getMessage());
    }

    @Test
    void anUncachedRepositorySaysHowToPullIt() {
        UsageException e = assertThrows(UsageException.class, () -> new ModelLocator(env).locate("acme/tiny", null));
        assertTrue(e.getMessage().startsWith("acme/tiny is not a local path and is not in the Hugging Face cache")
                && e.getMessage().endsWith("download it with `starattn pull acme/tiny`"), e.getMessage());
        assertTrue(server.requests().isEmpty(), "resolving never downloads");
    }

    @Test
    void llamaCppsFlatDownloadsAreFound() throws Exception {
        Path llama = tmp.resolve("llama");
        Files.createDirectories(llama);
        Path q4 = Files.write(llama.resolve("acme_tiny-GGUF_tiny-Q4_K_M.gguf"), HubFixtures.gguf("qwen3", "q4"));
        Files.write(llama.resolve("acme_tiny-GGUF_tiny-Q4_K_M.gguf.json"), "{}".getBytes());
        assertEquals(q4, new ModelLocator(env).locate("acme/tiny-GGUF", null));
    }

    @Test
    void llamaCppsHubLayoutUnderLlamaCacheIsFound() throws Exception {
        HubEnvironment llamaAsHub = env.with(env.endpoint(), tmp.resolve("llama"), env.token(), false);
        new HubPull(llamaAsHub, DownloadListener.NONE).pull(RepoRef.require("acme/tiny-GGUF"), FileSelection.engineDefault());
        assertEquals(tmp.resolve("llama/models--acme--tiny-GGUF/snapshots/" + HubFixtures.GGUF_SHA + "/tiny-Q8_0.gguf"),
                new ModelLocator(env).locate("acme/tiny-GGUF", null));
    }

    @Test
    void aSnapshotIsNamedByItsRepository() {
        assertEquals("acme/tiny", ModelLocator.displayName(tmp.resolve("hub/models--acme--tiny/snapshots/" + HubFixtures.SHA)));
        assertEquals("tiny-Q8_0.gguf", ModelLocator.displayName(tmp.resolve("hub/models--acme--tiny/snapshots/" + HubFixtures.SHA + "/tiny-Q8_0.gguf")));
        assertEquals("model-dir", ModelLocator.displayName(tmp.resolve("model-dir")));
    }

    @Test
    void unsafeNamesAndChoicesAreRefused() {
        for (String bad : List.of("../x.json", "/etc/passwd", "a/../../b", "a//b", "a\\b", "")) {
            assertTrue(!HubHttp.isSafeRelativePath(bad), bad);
        }
        assertTrue(HubHttp.isSafeRelativePath("onnx/model.safetensors"));
        assertEquals(List.of("m-Q8_0.gguf"), GgufChoice.candidates(List.of("m-Q8_0.gguf", "big-Q8_0-00001-of-00002.gguf", "mmproj-m-f16.gguf", "README.md")));
        UsageException e = assertThrows(UsageException.class, () -> GgufChoice.pick(List.of("m-Q5_K_S.gguf", "m-Q6_K.gguf"), null, "acme/m"));
        assertTrue(e.getMessage().equals("acme/m holds 2 GGUF files; choose one with --file: m-Q5_K_S.gguf, m-Q6_K.gguf"), e.getMessage());
    }

    @Test
    void repositoryNamesAreParsedStrictly() {
        assertEquals(new RepoRef("Qwen/Qwen2.5-0.5B", "main", false), RepoRef.parse("Qwen/Qwen2.5-0.5B").orElseThrow());
        assertEquals("refs/pr/1", RepoRef.parse("a/b@refs/pr/1").orElseThrow().revision());
        for (String notRepo : List.of("model.gguf", "/abs/path", "a/b/c", "./a", "a/../b", "a/b@", "a/b@../x", "-a/b", "a--b/c")) {
            assertTrue(RepoRef.parse(notRepo).isEmpty(), notRepo);
        }
        assertEquals("models--Qwen--Qwen2.5-0.5B", RepoRef.require("Qwen/Qwen2.5-0.5B").folderName());
    }

    @Test
    void theEnvironmentIsReadAsHuggingfaceHubReadsIt() throws Exception {
        Path home = tmp.resolve("home");
        HubEnvironment d = HubEnvironment.from(Map.of("HOME", home.toString()));
        assertEquals(HubEnvironment.DEFAULT_ENDPOINT, d.endpoint());
        assertEquals(home.resolve(".cache/huggingface/hub"), d.hubCache());
        assertEquals(home.resolve(".cache/llama.cpp"), d.llamaCache());
        assertTrue(d.token().isEmpty() && !d.offline());
        Files.createDirectories(tmp.resolve("hf"));
        Files.writeString(tmp.resolve("hf/token"), "hf_fromfile\n");
        HubEnvironment e = HubEnvironment.from(Map.of("HOME", home.toString(), "HF_HOME", tmp.resolve("hf").toString(),
                "HF_ENDPOINT", "http://mirror.test/", "HF_HUB_OFFLINE", "yes"));
        assertEquals("http://mirror.test", e.endpoint());
        assertEquals(tmp.resolve("hf/hub"), e.hubCache());
        assertEquals("hf_fromfile", e.token().orElseThrow());
        assertTrue(e.offline());
        assertEquals("hf_env", HubEnvironment.from(Map.of("HOME", home.toString(), "HF_HOME", tmp.resolve("hf").toString(), "HF_TOKEN", "hf_env"))
                .token().orElseThrow(), "HF_TOKEN before the token file");
        assertEquals(Path.of("/x/hub"), HubEnvironment.from(Map.of("HOME", home.toString(), "HF_HOME", "/y", "HF_HUB_CACHE", "/x/hub")).hubCache());
    }
}
