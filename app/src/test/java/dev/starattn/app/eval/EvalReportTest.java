package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.strategy.Strategies;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The evidence in the reports: intervals, the paired test, real lengths, block/anchor sizes and the floor. */
class EvalReportTest {
    static final RunConfig DENSE = RunConfig.dense();
    static final RunConfig STAR = new RunConfig(Strategies.STAR, 4, "auto", "b", AnchorPositions.ORIGINAL, AnchorContent.FIRST);

    static EvalReport report() {
        TokenLengths t = new TokenLengths(4000, 3990, 4010);
        List<EvalRunner.Result> results = List.of(
                new EvalRunner.Result("vt", 4096, DENSE, 0.9, 100, 0, 0, 0, t, 2e12, null),
                new EvalRunner.Result("vt", 4096, STAR, 0.8, 100, 1, 1000, 1000, t, 6e11, new PairedComparison(100, 90, 88, 10, 0)),
                new EvalRunner.Result("cwe", 4096, DENSE, 0.02, 100, 0, 0, 0, t, 2e12, null),
                new EvalRunner.Result("cwe", 4096, STAR, 0.0, 100, 0, 1000, 1000, t, 6e11, new PairedComparison(100, 98, 97, 2, 0)));
        return new EvalReport(new EvalReport.Meta("m.gguf", "ruler", "base", 0, 100, List.of()), results);
    }

    @Test
    void markdownGivesIntervalsPairedTestLengthsSizesAndTheFloor() {
        String md = report().markdown();
        assertTrue(md.contains("| vt | 4096 | star H=4 b=auto a=b | 80.0 | [71.1, 86.7] | 0.889 | 90/100 | 10 / 0 | 0.002 | 4000 (3990-4010) | 1000 / 1000 | 100 | 1 |  |"), md);
        assertTrue(md.contains("| vt | 4096 | dense | 90.0 | [82.6, 94.5] | - | - | - | - | 4000 (3990-4010) | - | 100 | 0 |  |"), md);
        assertTrue(md.contains("| cwe | 4096 | dense | 2.0 | [0.6, 7.0] | - | - | - | - | 4000 (3990-4010) | - | 100 | 0 | floor |"), md);
        assertTrue(md.contains("- cwe @4K: dense 2.0 % [0.6, 7.0], n = 100"), md);
        // the averages leave cwe out: vt alone
        assertTrue(md.contains("| 4096 | star H=4 b=auto a=b | 80.0 | [71.1, 86.7] | 0.889 | 1 | 100 | 4000 | 1000 / 1000 | 600 G | 1 |"), md);
    }

    @Test
    void jsonCarriesTheSameEvidence() {
        EvalReport r = report();
        JsonNode j = r.toJson();
        assertEquals(0.05, j.get("floor").asDouble());
        JsonNode star = j.get("results").get(1);
        assertEquals(0.711, star.get("ci95").get(0).asDouble(), 1e-3);
        assertEquals(2 / 1024.0, star.get("vs_dense").get("mcnemar_exact_p").asDouble(), 1e-12);
        assertEquals(90, star.get("vs_dense").get("same_score").asInt());
        assertEquals(3990, star.get("prompt_tokens").get("min").asInt());
        assertEquals(6e11, star.get("critical_path_flops").asDouble());
        assertFalse(star.get("below_floor").asBoolean());
        assertTrue(j.get("results").get(3).get("below_floor").asBoolean());
        JsonNode avg = j.get("averages").get(1);
        assertEquals(1, avg.get("tasks").asInt());
        assertEquals("cwe", avg.get("excluded_below_floor").get(0).asText());
        assertEquals(1000, avg.get("block_size").asInt());
    }

    @Test
    void lengthLabelsAndPValues() {
        assertEquals("4K", EvalReport.lengthLabel(4096));
        assertEquals("128K", EvalReport.lengthLabel(131072));
        assertEquals("1000", EvalReport.lengthLabel(1000));
        assertEquals("<0.001", EvalReport.pValue(1e-5));
        assertEquals("0.035", EvalReport.pValue(0.03515625));
        assertEquals("1.00", EvalReport.pValue(1));
        assertEquals("1.00 T", EvalReport.flops(999.99e9));
        assertEquals("600 G", EvalReport.flops(6e11));
    }

    @Test
    void plotsOfOneLengthAndOfFlopsAreWritten(@TempDir Path dir) throws Exception {
        List<Path> plots = report().write(dir);
        if (Files.exists(dir.resolve("plots-skipped.txt"))) return;  // no AWT fonts on this machine
        assertTrue(plots.contains(dir.resolve("accuracy_vs_length.png")));
        assertTrue(plots.contains(dir.resolve("accuracy_vs_flops.png")));
        for (Path p : plots) assertTrue(Files.size(p) > 1000, p.toString());
    }

    @Test
    void aTinyRunsReportHasIntervalsPValuesRealLengthsAndFlags(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("out");
        EvalCommandTest.Run r = EvalCommandTest.run("eval", "-m", TinyModels.path().toString(), "--tasks", "niah_single_1",
                "--lengths", "1024", "--attention", "dense,star", "--hosts", "2", "--samples", "2", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        String md = Files.readString(out.resolve("report.md"));
        String star = md.lines().filter(l -> l.startsWith("| niah_single_1 | 1024 | star H=2")).findFirst().orElseThrow();
        String[] cells = star.split("\\|");
        assertTrue(cells[5].strip().matches("\\[\\d+\\.\\d, \\d+\\.\\d]"), star);              // 95 % CI
        assertTrue(cells[7].strip().matches("\\d/2"), star);                                   // agreement with dense
        assertTrue(cells[9].strip().matches("<?[01]\\.\\d+"), star);                           // McNemar p
        assertTrue(cells[10].strip().matches("\\d+ \\(\\d+-\\d+\\)"), star);                   // real prompt tokens
        assertTrue(cells[11].strip().matches("\\d+ / \\d+"), star);                            // block / anchor
        // a random model scores nothing: the task is flagged and kept out of the averages
        assertTrue(star.endsWith("| floor |"), star);
        assertTrue(md.contains("niah_single_1 @1K: dense 0.0 %"), md);
        assertTrue(md.contains("No task is above the floor"), md);
    }
}
