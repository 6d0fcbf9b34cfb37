package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.model.Rope;
import dev.starattn.testutil.RepoPaths;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code starattn inspect sinks} end to end: JSON shape and ranges, the plot, bad input, and the
 * layer-0 masses against a direct computation from the model's own Q and K (layer 0 needs no
 * earlier layer, so the check is independent of the probe's forward pass).
 */
class SinksCommandTest {
    @TempDir Path dir;

    private record Run(int exit, String out, String err) {}

    private static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void tinyModelFromAPromptFile() throws Exception {
        Path model = new RandomLlamaModel().dim(32).layers(2).heads(2).kvHeads(1).ffnDim(64).vocab(300).contextLength(256)
                .write(dir.resolve("tiny.gguf"));
        Path prompt = Files.writeString(dir.resolve("prompt.txt"), "the quick brown fox jumps over the lazy dog ".repeat(6));
        Path png = dir.resolve("sinks.png");
        Run r = run("inspect", "sinks", "-m", model.toString(), "--prompt-file", prompt.toString(), "--block", "8",
                "--plot", png.toString(), "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        int n = j.get("tokens").asInt();
        assertTrue(n >= 16, "tokens " + n);
        shapeAndRange(j.get("prompt"), 2, 2);
        shapeAndRange(j.get("block"), 2, 2);
        assertEquals(8, j.get("block").get("start").asInt());
        assertEquals(8, j.get("block").get("tokens").asInt());
        assertTrue(Files.size(png) > 1000, "a PNG was written");

        Run bad = run("inspect", "sinks", "-m", model.toString(), "--prompt-file", prompt.toString(), "--block", "4000");
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains("--block 4000 needs a prompt of at least 8000 tokens"), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
    }

    @Test
    void shippedModelLayerZeroMatchesDirectAttention() throws Exception {
        Path model = RepoPaths.root().resolve("models/starattn-tiny-q8_0.gguf");
        Run r = run("inspect", "sinks", "-m", model.toString(), "--tokens", "256", "--block", "64", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.get("first_is_bos").asBoolean());
        assertTrue(j.get("tokens").asInt() > 230 && j.get("tokens").asInt() <= 256, "tokens " + j.get("tokens"));
        try (LoadedModel m = ModelLoader.load(model)) {
            DecoderConfig c = m.config();
            shapeAndRange(j.get("prompt"), c.layers(), c.heads());
            shapeAndRange(j.get("block"), c.layers(), c.heads());
            int[] ids = SinkPrompts.tokens(m, null, 256);
            double[] direct = layerZeroFirstMass(m.model(), ids);
            for (int h = 0; h < c.heads(); h++) {
                assertEquals(direct[h], j.get("prompt").get("first").get(0).get(h).asDouble(), 1e-4, "head " + h);
            }
        }
    }

    /** Mean over queries of softmax(q.k / sqrt(hd)) on key 0, layer 0, straight from the model's projections. */
    private static double[] layerZeroFirstMass(DecoderModel model, int[] ids) {
        DecoderConfig c = model.config();
        int n = ids.length, hd = c.headDim();
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) pos[i] = i;
        DecoderModel.Qkv qkv = model.qkv(0, model.embed(ids, 0, n), n, new Rope(c, pos, 0, n));
        double[] mass = new double[c.heads()];
        for (int h = 0; h < c.heads(); h++) {
            int kvh = h / (c.heads() / c.kvHeads());
            for (int t = 0; t < n; t++) {
                double[] s = new double[t + 1];
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int k = 0; k <= t; k++) {
                    for (int i = 0; i < hd; i++) s[k] += (double) qkv.q()[t * c.qDim() + h * hd + i] * qkv.k()[k * c.kvDim() + kvh * hd + i];
                    s[k] /= Math.sqrt(hd);
                    max = Math.max(max, s[k]);
                }
                for (int k = 0; k <= t; k++) sum += Math.exp(s[k] - max);
                mass[h] += Math.exp(s[0] - max) / sum / n;
            }
        }
        return mass;
    }

    private static void shapeAndRange(JsonNode s, int layers, int heads) {
        for (String key : new String[] {"first", "first4"}) {
            JsonNode m = s.get(key);
            assertEquals(layers, m.size(), key);
            for (JsonNode row : m) {
                assertEquals(heads, row.size(), key);
                for (JsonNode v : row) assertTrue(v.asDouble() >= 0 && v.asDouble() <= 1 + 1e-9, key + " " + v);
            }
        }
        double mf = s.get("mean_first").asDouble(), m4 = s.get("mean_first4").asDouble();
        assertTrue(mf >= 0 && mf <= m4 && m4 <= 1 + 1e-9, "0 <= mean first <= mean first four <= 1");
    }
}
