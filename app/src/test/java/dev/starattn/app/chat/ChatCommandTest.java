package dev.starattn.app.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.testutil.RepoPaths;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code starattn chat} end to end on the shipped model with piped lines: a held-out needle
 * document encoded once, the question asked twice around /stats and /reset (the second time
 * without encoding again), and bad input answered in one line.
 */
class ChatCommandTest {
    static final Path MODEL = RepoPaths.root().resolve("models/starattn-tiny-q8_0.gguf");

    record Run(int code, String out, String err) {}

    static Run chat(String stdin, String... args) {
        InputStream oldIn = System.in;
        StringWriter out = new StringWriter(), err = new StringWriter();
        try {
            System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
            CommandLine cl = Main.commandLine();
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            String[] all = new String[args.length + 1];
            all[0] = "chat";
            System.arraycopy(args, 0, all, 1, args.length);
            return new Run(cl.execute(all), out.toString(), err.toString());
        } finally {
            System.setIn(oldIn);
        }
    }

    /** The first held-out needle sample, cut to about 1,000 tokens around its needle so the test stays quick. */
    static String[] needleDocument() throws Exception {
        JsonNode s = new ObjectMapper().readTree(Files.readAllLines(RepoPaths.root().resolve("models/heldout.jsonl")).getFirst());
        String ctx = s.get("input_context").asText();
        String value = s.get("outputs").get(0).asText();
        int at = ctx.indexOf(value);
        int from = ctx.lastIndexOf('\n', Math.max(0, at - 1800)) + 1;
        int to = ctx.indexOf('\n', Math.min(ctx.length() - 1, at + 1800));
        String intro = ctx.substring(0, ctx.indexOf('\n') + 1);
        return new String[] {intro + ctx.substring(from, to < 0 ? ctx.length() : to), s.get("input_query").asText().strip(), value};
    }

    @Test
    void answersAboutADocumentEncodedOnce(@TempDir Path dir) throws Exception {
        String[] d = needleDocument();
        Path doc = dir.resolve("doc.txt");
        Files.writeString(doc, d[0]);
        Run r = chat(d[1] + "\n/stats\n/reset\n" + d[1] + "\n", "-m", MODEL.toString(), "--context-file", doc.toString(), "-n", "12");
        assertEquals(0, r.code(), r.err());
        List<String> answers = r.out().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(2, answers.size(), r.out());
        for (String a : answers) assertTrue(a.contains(d[2]), "expected " + d[2] + " in: " + a);
        assertTrue(r.err().contains("context: "), r.err());
        assertTrue(r.err().contains("first token"), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.startsWith("encoded doc.txt")).count(), "the document is encoded once: " + r.err());
    }

    @Test
    void worksWithoutADocumentAndLoadsOneLater(@TempDir Path dir) throws Exception {
        String[] d = needleDocument();
        Path doc = dir.resolve("later.txt");
        Files.writeString(doc, d[0]);
        Run r = chat("hello there\n/load " + doc + "\n" + d[1] + "\n", "-m", MODEL.toString(), "-n", "12", "--hosts", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("encoded later.txt"), r.err());
        assertTrue(r.out().lines().toList().getLast().contains(d[2]), r.out());
    }

    @Test
    void badInputIsOneLine(@TempDir Path dir) {
        Run missing = chat("", "-m", MODEL.toString(), "--context-file", dir.resolve("nope.txt").toString());
        assertNotEquals(0, missing.code());
        assertTrue(missing.err().contains("does not exist"), missing.err());
        assertTrue(!missing.err().contains("\tat "), missing.err());
        Run unknown = chat("/load\n/frobnicate\n", "-m", MODEL.toString());
        assertEquals(0, unknown.code(), unknown.err());
        assertTrue(unknown.err().contains("/load takes a file name"), unknown.err());
        assertTrue(unknown.err().contains("unknown command /frobnicate"), unknown.err());
    }
}
