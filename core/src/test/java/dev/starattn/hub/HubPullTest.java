package dev.starattn.hub;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link HubPull} against a Hub-compatible server on 127.0.0.1: real HTTP, real files, faults on demand. */
class HubPullTest {
    @TempDir Path tmp;
    HubTestServer server;

    @BeforeEach
    void start() throws Exception {
        server = new HubTestServer();
        HubFixtures.addSafetensorsRepo(server, "acme/tiny", null);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HubPull.Result pull(HubEnvironment env, String spec, FileSelection selection) {
        return new HubPull(env, DownloadListener.NONE, java.time.Duration.ofSeconds(5)).pull(RepoRef.require(spec), selection);
    }

    private HubPull.Result pull(String spec) {
        return pull(HubFixtures.env(server, tmp, null), spec, FileSelection.engineDefault());
    }

    private Path repoDir() {
        return tmp.resolve("hub/models--acme--tiny");
    }

    @Test
    void writesHuggingFaceHubsLayout() throws Exception {
        HubPull.Result r = pull("acme/tiny");
        Map<String, byte[]> files = HubFixtures.safetensorsRepo();
        assertEquals(HubFixtures.SHA, r.commit());
        assertEquals(List.of("config.json", "tokenizer.json", "generation_config.json", "model.safetensors"), r.files());
        assertEquals(HubFixtures.SHA, Files.readString(repoDir().resolve("refs/main")), "refs/main holds the commit, no newline");
        Path snapshot = repoDir().resolve("snapshots/" + HubFixtures.SHA);
        assertEquals(snapshot, r.model());
        for (String f : r.files()) {
            Path link = snapshot.resolve(f);
            HubTestServer.RepoFile rf = new HubTestServer.RepoFile(files.get(f), f.endsWith(".safetensors"));
            assertTrue(Files.isSymbolicLink(link), f + " is a link");
            assertEquals(Path.of("../../blobs/" + rf.etag()), Files.readSymbolicLink(link), f + " links relatively to its blob");
            assertArrayEquals(files.get(f), Files.readAllBytes(link), f);
        }
        assertTrue(Files.exists(repoDir().resolve("blobs/" + new HubTestServer.RepoFile(files.get("model.safetensors"), true).sha256())),
                "an LFS file's blob is named by its sha256");
        assertFalse(Files.exists(snapshot.resolve("README.md")), "files the engine does not read stay on the Hub");
        assertFalse(Files.exists(snapshot.resolve("pytorch_model.bin")));
        assertFalse(Files.exists(snapshot.resolve("onnx")));
        assertTrue(Files.readString(tmp.resolve("hub/CACHEDIR.TAG")).startsWith("Signature: 8a477f597d28d172789f06886806bc55"));
        try (Stream<Path> s = Files.list(repoDir().resolve("blobs"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".incomplete")));
        }
    }

    @Test
    void aSecondPullOnlyAsksForTheCommit() {
        pull("acme/tiny");
        int before = server.requests().size();
        HubPull.Result again = pull("acme/tiny");
        List<String> after = server.requests().subList(before, server.requests().size());
        assertEquals(List.of("GET /api/models/acme/tiny/revision/main"), after);
        assertEquals(0, again.downloadedBytes());
    }

    @Test
    void resumesADroppedConnectionWithARangeRequest() throws Exception {
        server.dropConnection("model.safetensors", 1_000_000, 1);
        pull("acme/tiny");
        // The retry asks for the rest from the last byte that arrived (bytes in flight when the connection broke are lost).
        assertTrue(server.requests().stream().anyMatch(r -> r.startsWith("GET /cdn/") && r.matches(".* bytes=\\d+-$")
                && rangeStart(r) > 0 && rangeStart(r) <= 1_000_000), server.requests().toString());
        assertWeightsIntact();
    }

    @Test
    void resumesThePartialFileOfAnEarlierPull() throws Exception {
        byte[] weights = HubFixtures.safetensorsRepo().get("model.safetensors");
        String sha256 = new HubTestServer.RepoFile(weights, true).sha256();
        Path part = repoDir().resolve("blobs/" + sha256 + ".incomplete");
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(weights, 1_500_000));
        pull("acme/tiny");
        assertTrue(server.requests().stream().anyMatch(r -> r.startsWith("GET /cdn/") && r.contains("bytes=1500000-")), server.requests().toString());
        assertFalse(Files.exists(part));
        assertWeightsIntact();
    }

    @Test
    void aConnectionThatKeepsBreakingFailsAndKeepsWhatItHas() throws Exception {
        server.dropConnection("model.safetensors", 1_000_000, 1000);
        HubException e = assertThrows(HubException.class, () -> pull("acme/tiny"));
        assertTrue(e.getMessage().contains("acme/tiny file model.safetensors") && e.getMessage().contains("pull again to resume"), e.getMessage());
        byte[] weights = HubFixtures.safetensorsRepo().get("model.safetensors");
        Path part = repoDir().resolve("blobs/" + new HubTestServer.RepoFile(weights, true).sha256() + ".incomplete");
        assertTrue(Files.size(part) > 0 && Files.size(part) <= 1_000_000, "the bytes that came are kept for the next pull");
    }

    @Test
    void aFileThatDoesNotHashToItsSha256IsRefused() throws Exception {
        server.corrupt("model.safetensors");
        HubException e = assertThrows(HubException.class, () -> pull("acme/tiny"));
        assertTrue(e.getMessage().contains("acme/tiny file model.safetensors is corrupt"), e.getMessage());
        try (Stream<Path> s = Files.list(repoDir().resolve("blobs"))) {
            List<String> left = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(left.stream().noneMatch(n -> n.length() == 64 || n.endsWith(".incomplete")), left.toString());
        }
        assertFalse(Files.exists(repoDir().resolve("snapshots/" + HubFixtures.SHA + "/model.safetensors")));
    }

    @Test
    void aGatedRepositoryAsksForATokenAndTheTokenStaysOnTheHub() throws Exception {
        HubFixtures.addSafetensorsRepo(server, "acme/gated", "hf_good");
        HubException none = assertThrows(HubException.class, () -> pull(HubFixtures.env(server, tmp, null), "acme/gated", FileSelection.engineDefault()));
        assertTrue(none.getMessage().contains("acme/gated is gated") && none.getMessage().contains("set HF_TOKEN"), none.getMessage());
        HubException wrong = assertThrows(HubException.class, () -> pull(HubFixtures.env(server, tmp, "hf_bad"), "acme/gated", FileSelection.engineDefault()));
        assertTrue(wrong.getMessage().contains("acme/gated") && wrong.getMessage().contains("HTTP 403"), wrong.getMessage());

        HubPull.Result ok = pull(HubFixtures.env(server, tmp, "hf_good"), "acme/gated", FileSelection.engineDefault());
        assertEquals(4, ok.files().size());
        List<String> cdn = server.requests().stream().filter(r -> r.startsWith("GET /cdn/")).toList();
        assertFalse(cdn.isEmpty());
        assertTrue(cdn.stream().noneMatch(r -> r.endsWith(" auth")), "the token is not sent to the storage host: " + cdn);
        assertTrue(server.requests().stream().anyMatch(r -> r.startsWith("HEAD /acme/gated/resolve/") && r.endsWith(" auth")));
    }

    @Test
    void aMissingRepositoryRevisionOrFileIsOneSentence() {
        HubException repo = assertThrows(HubException.class, () -> pull("acme/nothing"));
        assertTrue(repo.getMessage().startsWith("repository acme/nothing was not found"), repo.getMessage());
        HubException rev = assertThrows(HubException.class, () -> pull("acme/tiny@v9"));
        assertTrue(rev.getMessage().startsWith("revision v9 of acme/tiny does not exist"), rev.getMessage());
        var e = assertThrows(IllegalArgumentException.class,
                () -> pull(HubFixtures.env(server, tmp, null), "acme/tiny", new FileSelection(List.of("*.gguf"), null)));
        assertTrue(e.getMessage().contains("no file of acme/tiny matches --include *.gguf"), e.getMessage());
    }

    @Test
    void anUnreachableHubIsNamed() {
        HubEnvironment env = HubFixtures.env(server, tmp, null);
        HubEnvironment down = env.with("http://127.0.0.1:1", env.hubCache(), env.token(), false);
        HubException e = assertThrows(HubException.class, () -> pull(down, "acme/tiny", FileSelection.engineDefault()));
        assertTrue(e.getMessage().startsWith("cannot reach http://127.0.0.1:1 for acme/tiny") && e.getMessage().contains("HF_HUB_OFFLINE"), e.getMessage());
    }

    @Test
    void offlineUsesTheCacheOrSaysHowToPull() {
        HubEnvironment offline = HubFixtures.offline(HubFixtures.env(server, tmp, null));
        HubException e = assertThrows(HubException.class, () -> pull(offline, "acme/tiny", FileSelection.engineDefault()));
        assertTrue(e.getMessage().contains("HF_HUB_OFFLINE") && e.getMessage().contains("`starattn pull acme/tiny`"), e.getMessage());
        pull("acme/tiny");
        int before = server.requests().size();
        HubPull.Result cached = pull(offline, "acme/tiny", FileSelection.engineDefault());
        assertEquals(before, server.requests().size(), "offline sends nothing");
        assertEquals(HubFixtures.SHA, cached.commit());
    }

    @Test
    void aGgufRepositoryGivesOneFile() {
        HubFixtures.addGgufRepo(server, "acme/tiny-GGUF");
        HubPull.Result q8 = pull("acme/tiny-GGUF");
        assertEquals(List.of("tiny-Q8_0.gguf"), q8.files(), "Q8_0 before Q4_K_M; never the projector");
        assertEquals(q8.snapshot().resolve("tiny-Q8_0.gguf"), q8.model());
        HubPull.Result q4 = pull(HubFixtures.env(server, tmp, null), "acme/tiny-GGUF", new FileSelection(List.of(), "Q4_K_M"));
        assertEquals(List.of("tiny-Q4_K_M.gguf"), q4.files());
        assertEquals(2, server.requests().stream().filter(r -> r.startsWith("GET /cdn/")).count());
    }

    @Test
    void twoPullsAtOnceFetchEachBlobOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<HubPull.Result>> results = new ArrayList<>();
            for (int i = 0; i < 2; i++) results.add(pool.submit(() -> pull("acme/tiny")));
            for (Future<HubPull.Result> f : results) assertEquals(HubFixtures.SHA, f.get().commit());
        } finally {
            pool.shutdown();
        }
        assertEquals(1, server.requests().stream().filter(r -> r.startsWith("GET /cdn/")).count(), server.requests().toString());
        assertWeightsIntact();
    }

    private static long rangeStart(String request) {
        String r = request.substring(request.indexOf("bytes=") + 6);
        return Long.parseLong(r.substring(0, r.indexOf('-')));
    }

    private void assertWeightsIntact() throws Exception {
        byte[] weights = HubFixtures.safetensorsRepo().get("model.safetensors");
        assertArrayEquals(weights, Files.readAllBytes(repoDir().resolve("snapshots/" + HubFixtures.SHA + "/model.safetensors")));
    }

    @Test
    void refsOfABranchAreWrittenAtomicallyAndReadBack() throws Exception {
        HubCache cache = new HubCache(tmp.resolve("hub"), RepoRef.require("acme/tiny"));
        cache.writeRef("main", HubFixtures.SHA);
        assertEquals(HubFixtures.SHA, cache.commitOf("main").orElseThrow());
        assertEquals(HubFixtures.SHA, new String(Files.readAllBytes(repoDir().resolve("refs/main")), StandardCharsets.UTF_8));
        try (Stream<Path> s = Files.list(repoDir().resolve("refs"))) {
            assertEquals(1, s.count(), "no temporary file left");
        }
    }
}
