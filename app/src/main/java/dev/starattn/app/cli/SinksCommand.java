package dev.starattn.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.cli.UsageException;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.SinkProbe;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code starattn inspect sinks}: per layer and head, the attention mass on BOS and on the first
 * {@value SinkProbe#FIRST} tokens over a prompt (mean over its query positions), and the same for
 * one block of the prompt encoded alone at its original positions, as Star Attention encodes a
 * block without its anchor: the block's first token is then its own would-be sink.
 */
@Command(name = "sinks", mixinStandardHelpOptions = true,
        description = "Attention mass on BOS and on the first 4 tokens, per layer and head, over a prompt and over an anchor-less block.")
public final class SinksCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF file or Hugging Face model directory.")
    Path model;

    @Option(names = "--prompt-file", description = "Text of the prompt (BOS added as the model wants). Default: a niah_single_1 sample of --tokens tokens.")
    Path promptFile;

    @Option(names = "--tokens", defaultValue = "2048", description = "Prompt length in tokens (a prompt file is cut to it). Default: ${DEFAULT-VALUE}.")
    int tokens;

    @Option(names = "--block", defaultValue = "-1",
            description = "Block size: the prompt's second block [B, 2B) is also measured alone at its own positions. Default: a quarter of the prompt; 0: none.")
    int block;

    @Option(names = "--plot", description = "Write a heatmap PNG (layers x heads) here.")
    Path plot;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (tokens < 2) throw new UsageException("--tokens must be at least 2 (got " + tokens + ")");
        try (LoadedModel m = ModelCli.load(model, false)) {
            int[] ids = SinkPrompts.tokens(m, promptFile, tokens);
            int b = block < 0 ? ids.length / 4 : block;
            if (b > 0 && 2 * b > ids.length) {
                throw new UsageException("--block " + b + " needs a prompt of at least " + 2 * b + " tokens (it has " + ids.length + ")");
            }
            SinkProbe.Masses full = SinkProbe.measure(m.model(), ids, 0);
            SinkProbe.Masses blk = b > 0 ? SinkProbe.measure(m.model(), Arrays.copyOfRange(ids, b, 2 * b), b) : null;
            if (plot != null) SinkPlot.write(plot, full, blk);
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(toJson(m, ids, full, blk)));
            } else {
                print(out, full, blk);
            }
        }
        return 0;
    }

    private ObjectNode toJson(LoadedModel m, int[] ids, SinkProbe.Masses full, SinkProbe.Masses blk) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.put("model", m.path().toString());
        j.put("tokens", ids.length);
        j.put("first_is_bos", ids[0] == m.tokenizer().bosId());
        j.set("prompt", masses(om, full));
        if (blk != null) j.set("block", masses(om, blk));
        return j;
    }

    private static ObjectNode masses(ObjectMapper om, SinkProbe.Masses s) {
        ObjectNode j = om.createObjectNode();
        j.put("start", s.startPosition());
        j.put("tokens", s.tokens());
        j.put("mean_first", s.meanFirst());
        j.put("mean_first4", s.meanFirstFew());
        j.put("uniform_first", s.uniformFirst());
        j.put("heads_first_over_half", s.headsAbove(0.5));
        j.set("first", matrix(om, s.first()));
        j.set("first4", matrix(om, s.firstFew()));
        return j;
    }

    private static ArrayNode matrix(ObjectMapper om, double[][] m) {
        ArrayNode a = om.createArrayNode();
        for (double[] row : m) {
            ArrayNode r = a.addArray();
            for (double v : row) r.add(v);
        }
        return a;
    }

    private static void print(PrintWriter out, SinkProbe.Masses full, SinkProbe.Masses blk) {
        out.printf("prompt: %d tokens; mean mass on BOS %.4f (uniform %.4f), on the first 4 %.4f; heads with BOS mass > 0.5: %d%n",
                full.tokens(), full.meanFirst(), full.uniformFirst(), full.meanFirstFew(), full.headsAbove(0.5));
        table(out, "BOS mass", full.first());
        if (blk != null) {
            out.printf("block [%d, %d) alone at its positions (no anchor): mean mass on its first token %.4f (uniform %.4f), "
                            + "on its first 4 %.4f; heads > 0.5: %d%n", blk.startPosition(), blk.startPosition() + blk.tokens(),
                    blk.meanFirst(), blk.uniformFirst(), blk.meanFirstFew(), blk.headsAbove(0.5));
            table(out, "first-token mass", blk.first());
        }
    }

    private static void table(PrintWriter out, String what, double[][] m) {
        out.printf("  %-6s %s (heads across)%n", "layer", what);
        for (int l = 0; l < m.length; l++) {
            StringBuilder sb = new StringBuilder();
            for (double v : m[l]) sb.append(String.format(" %.3f", v));
            out.printf("  %-6d%s%n", l, sb);
        }
    }
}
