package dev.starattn.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's library code is AskADocument.java's marked region, character for character, so the README cannot rot. */
class ReadmeSnippetTest {
    static final String SOURCE = "examples/src/main/java/dev/starattn/examples/AskADocument.java";

    @Test
    void readmeShowsTheExampleAsCompiled() throws Exception {
        Path root = Repo.root();
        String src = Files.readString(root.resolve(SOURCE));
        int b = src.indexOf("// README:begin\n"), e = src.indexOf("// README:end");
        assertTrue(b >= 0 && e > b, "markers missing in " + SOURCE);
        String region = src.substring(b + "// README:begin\n".length(), e);

        String readme = Files.readString(root.resolve("README.md"));
        int mark = readme.indexOf("<!-- " + SOURCE + " -->");
        assertTrue(mark >= 0, "README.md has no <!-- " + SOURCE + " --> marker before the library example");
        int open = readme.indexOf("```java\n", mark);
        int close = readme.indexOf("```", open + 8);
        assertTrue(open >= 0 && close > open, "no ```java block after the marker");
        assertEquals(region, readme.substring(open + "```java\n".length(), close),
                "README.md's library example differs from " + SOURCE + "; copy the region between the README markers");
    }
}
