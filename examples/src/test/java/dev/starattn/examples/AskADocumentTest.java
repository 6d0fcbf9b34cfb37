package dev.starattn.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's library example, run as a user would run it, on the shipped model: it must find a held-out needle. */
class AskADocumentTest {
    @Test
    void findsTheNeedleOnTheShippedModel(@TempDir Path dir) throws Exception {
        Path root = Repo.root();
        JsonNode s = new ObjectMapper().readTree(Files.readAllLines(root.resolve("models/heldout.jsonl")).getFirst());
        String ctx = s.get("input_context").asText();
        String value = s.get("outputs").get(0).asText();
        // About 1,000 tokens around the needle, with the task's opening line, so that the test stays quick.
        int at = ctx.indexOf(value);
        int from = ctx.lastIndexOf('\n', Math.max(0, at - 1800)) + 1;
        int to = ctx.indexOf('\n', Math.min(ctx.length() - 1, at + 1800));
        Path doc = dir.resolve("doc.txt");
        Files.writeString(doc, ctx.substring(0, ctx.indexOf('\n') + 1) + ctx.substring(from, to < 0 ? ctx.length() : to));

        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            AskADocument.main(new String[] {root.resolve("models/starattn-tiny-q8_0.gguf").toString(), doc.toString(),
                    s.get("input_query").asText()});
        } finally {
            System.setOut(old);
        }
        String answer = buf.toString(StandardCharsets.UTF_8);
        assertTrue(answer.contains(value), "expected " + value + " in: " + answer);
    }
}
