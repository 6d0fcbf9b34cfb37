package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.app.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner end to end through the command line, on a tiny random model. */
class EvalCommandTest {
    record Run(int exit, String out, String err) {}

    static synchronized Run run(String... args) {
        PrintStream o = System.out, e = System.err;
        ByteArrayOutputStream bo = new ByteArrayOutputStream(), be = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(bo, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(be, true, StandardCharsets.UTF_8));
            int code = Main.commandLine().execute(args);
            return new Run(code, bo.toString(StandardCharsets.UTF_8), be.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(o);
            System.setErr(e);
        }
    }

    static long lines(Path f) throws Exception {
        return Files.readAllLines(f).stream().filter(l -> !l.isBlank()).count();
    }

    @Test
    void denseAndStarEndToEndThenResumeSkipsScoredSamples(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        String[] args = {"eval", "-m", TinyModels.path().toString(), "--suite", "ruler", "--tasks", "niah_single_1,qa_1",
                "--lengths", "1024", "--attention", "dense,star", "--hosts", "2", "--samples", "2", "--json", "--out", out.toString()};
        Run r = run(args);
        assertEquals(0, r.exit(), r.err());
        JsonNode j = PredictionStore.JSON.readTree(r.out());
        JsonNode results = j.get("results");
        assertEquals(4, results.size()); // 2 tasks x 1 length x 2 modes
        for (JsonNode x : results) {
            for (String f : List.of("task", "length", "attention", "hosts", "block_size", "anchor_size", "accuracy", "samples", "empty")) {
                assertTrue(x.has(f), "result lacks " + f + ": " + x);
            }
            assertEquals(1024, x.get("length").asInt());
            assertEquals(2, x.get("samples").asInt());
            double acc = x.get("accuracy").asDouble();
            assertTrue(acc >= 0 && acc <= 1);
            if (x.get("attention").asText().equals("star")) {
                assertEquals(2, x.get("hosts").asInt());
                assertTrue(x.get("block_size").asInt() > 0);
                assertEquals(x.get("block_size").asInt(), x.get("anchor_size").asInt());
            } else {
                assertEquals("dense", x.get("attention").asText());
                assertEquals(1, x.get("hosts").asInt());
            }
        }
        assertTrue(r.err().contains("ETA"), r.err());
        Path preds = out.resolve("predictions.jsonl");
        assertEquals(8, lines(preds));
        assertTrue(Files.exists(out.resolve("report.md")));
        assertTrue(Files.readString(out.resolve("report.md")).contains("| niah_single_1 | 1024 | star H=2 b=auto a=b |"));
        assertTrue(Files.exists(out.resolve("results.json")));
        assertTrue(Files.exists(out.resolve("accuracy_vs_length.png")) || Files.exists(out.resolve("plots-skipped.txt")));

        // a rerun scores nothing new and reports the same results
        Run again = run(args);
        assertEquals(0, again.exit(), again.err());
        assertEquals(8, lines(preds));
        assertEquals(results, PredictionStore.JSON.readTree(again.out()).get("results"));

        // one more sample: only its two predictions are added
        args[args.length - 4] = "3";
        Run more = run(args);
        assertEquals(0, more.exit(), more.err());
        assertEquals(8 + 4, lines(preds));
    }

    @Test
    void exportThenDataRunsTheSameSamples(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("set.jsonl");
        Run e = run("eval", "-m", TinyModels.path().toString(), "--suite", "babilong", "--tasks", "qa1,qa5",
                "--lengths", "2048", "--samples", "2", "--seed", "3", "--export", f.toString());
        assertEquals(0, e.exit(), e.err());
        List<EvalSample> read = DataFiles.read(f);
        assertEquals(4, read.size());
        // the same samples as the generator makes
        try (var m = TinyModels.load()) {
            SampleBuilder b = new SampleBuilder(new PromptTokens(m, EvalTemplate.of(m.template())), 3);
            assertEquals(b.samples("qa1", 2048, 2), read.subList(0, 2));
            assertEquals(b.samples("qa5", 2048, 2), read.subList(2, 4));
        }
        // and DataFiles writes back what it read
        Path g = dir.resolve("copy.jsonl");
        DataFiles.write(g, read);
        assertEquals(Files.readString(f), Files.readString(g));

        Run d = run("eval", "-m", TinyModels.path().toString(), "--data", f.toString(), "--attention", "dense",
                "--samples", "1", "--json");
        assertEquals(0, d.exit(), d.err());
        JsonNode res = PredictionStore.JSON.readTree(d.out()).get("results");
        assertEquals(2, res.size());
        assertEquals("qa1", res.get(0).get("task").asText());
        assertEquals(1, res.get(0).get("samples").asInt());
        // running part of a data set is said, not silent
        String notes = PredictionStore.JSON.readTree(d.out()).get("notes").toString();
        assertTrue(notes.contains("qa1: 1 of the data set's 2 samples run (--samples 1)"), notes);
    }

    @Test
    void impossibleBudgetIsOneSentence() throws Exception {
        Run r = run("eval", "-m", TinyModels.path().toString(), "--tasks", "vt", "--lengths", "200", "--samples", "1");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("cannot be sized to 200 tokens"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    /** auto: the configuration generate's auto would run at the length is run and reported with why. */
    @Test
    void autoRunsWhatItWouldChooseAndSaysWhy(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        Run r = run("eval", "-m", TinyModels.path().toString(), "--suite", "ruler", "--tasks", "niah_single_1",
                "--lengths", "1024", "--attention", "dense,auto", "--hosts", "2", "--samples", "1", "--json", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode j = PredictionStore.JSON.readTree(r.out());
        JsonNode auto = j.get("attention_auto");
        assertEquals(1, auto.size(), j.toString());
        JsonNode pick = auto.get(0);
        assertEquals(1024, pick.get("length").asInt());
        assertFalse(pick.get("why").asText().isBlank());
        for (String k : List.of("dense", "star", "star-pass")) assertTrue(pick.get("predicted_seconds").get(k).isNumber(), k);
        // the chosen configuration is one of the results (dense: the one asked for already, not twice)
        String chosen = pick.get("config").asText();
        long runs = 0;
        for (JsonNode x : j.get("results")) if (x.get("config").asText().equals(chosen)) runs++;
        assertEquals(1, runs, j.toString());
        assertEquals(pick.get("chosen").asText(), chosen.split(" ")[0]);
        assertTrue(Files.readString(out.resolve("report.md")).contains("## --attention auto"));
    }
}
