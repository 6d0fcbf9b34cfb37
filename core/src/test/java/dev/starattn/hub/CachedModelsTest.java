package dev.starattn.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code starattn list}: each cached repository with its family, size on disk and revisions. */
class CachedModelsTest {
    @TempDir Path tmp;

    @Test
    void listsRepositoriesWithFamilySizeAndRevisions() throws Exception {
        try (HubTestServer server = new HubTestServer()) {
            HubFixtures.addSafetensorsRepo(server, "acme/tiny", null);
            HubFixtures.addGgufRepo(server, "acme/tiny-GGUF");
            HubEnvironment env = HubFixtures.env(server, tmp, null);
            new HubPull(env, DownloadListener.NONE).pull(RepoRef.require("acme/tiny"), FileSelection.engineDefault());
            new HubPull(env, DownloadListener.NONE).pull(RepoRef.require("acme/tiny-GGUF@" + HubFixtures.GGUF_SHA), FileSelection.engineDefault());
            Path llama = tmp.resolve("llama");
            Files.createDirectories(llama);
            Files.write(llama.resolve("org_x-GGUF_x-Q8_0.gguf"), HubFixtures.gguf("gemma3", "x"));

            List<CachedModels.Entry> entries = new CachedModels(env).list();
            assertEquals(3, entries.size(), entries.toString());
            CachedModels.Entry st = entries.get(0);
            assertEquals("acme/tiny", st.name());
            assertEquals("llama", st.family());
            assertEquals(Map.of("main", HubFixtures.SHA), st.revisions());
            long expected = 0;
            for (String f : List.of("config.json", "tokenizer.json", "generation_config.json", "model.safetensors")) {
                expected += HubFixtures.safetensorsRepo().get(f).length;
            }
            assertEquals(expected, st.bytes());
            CachedModels.Entry gg = entries.get(1);
            assertEquals("acme/tiny-GGUF", gg.name());
            assertEquals("qwen3", gg.family());
            assertEquals(Map.of("(detached)", HubFixtures.GGUF_SHA), gg.revisions(), "pulled by commit: no ref names it");
            CachedModels.Entry flat = entries.get(2);
            assertEquals("org_x-GGUF_x-Q8_0.gguf", flat.name());
            assertEquals("gemma3", flat.family());
            assertEquals("llama.cpp", flat.source());
        }
    }
}
