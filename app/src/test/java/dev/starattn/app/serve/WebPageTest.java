package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.testutil.RepoPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The web page in a real browser: web-test/serve-page.mjs (playwright-core driving Debian's
 * chromium) uploads a document, watches per-host phase-1 progress, asks two questions and reads
 * the streamed answers and timings. Skipped only where node, chromium or playwright-core are
 * absent; .ci/run installs them.
 */
class WebPageTest {
    @TempDir Path dir;

    static Path webTestDir() {
        return RepoPaths.npmProject("web-test");
    }

    static boolean nodeWorks() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void pageUploadsWatchesProgressAndStreamsAnswers() throws Exception {
        Path web = webTestDir();
        assumeTrue(web != null, "web-test/ not found");
        assumeTrue(Files.isDirectory(web.resolve("node_modules/playwright-core")), "playwright-core not installed (cd web-test && npm ci)");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/chromium")), "chromium not installed (apt-get install chromium)");
        assumeTrue(nodeWorks(), "node not found");
        try (ServeFixture f = new ServeFixture(dir, ServerConfig.defaults(), 4)) {
            Path doc = dir.resolve("essay.txt");
            Files.writeString(doc, ServeFixture.text(1500, 11));
            Process p = new ProcessBuilder("node", "serve-page.mjs", f.base, doc.toString()).directory(web.toFile())
                    .redirectErrorStream(true).start();
            String out;
            try (var in = p.getInputStream()) {
                boolean done = p.waitFor(150, TimeUnit.SECONDS);
                if (!done) p.destroyForcibly();
                out = new String(in.readAllBytes());
                assertTrue(done, "the browser test did not finish in time:\n" + out);
            }
            assertEquals(0, p.exitValue(), out);
            String last = out.strip().lines().reduce((a, b) -> b).orElse("{}");
            JsonNode j = ServeFixture.JSON.readTree(last);
            assertTrue(j.get("ok").asBoolean(), out);
            assertEquals(4, j.get("hosts").size(), out);
            assertEquals(2, j.get("answers").size(), out);
            // the page's document reached the server, was encoded once and served both questions
            String metrics = f.get("/metrics").body();
            assertTrue(metrics.contains("starattn_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 2"), metrics);
        }
    }
}
