package dev.starattn.app.cli;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import dev.starattn.model.PromptTemplate;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code starattn demo}: the front door. A long haystack with one needle, star attention over
 * in-process hosts on the model that ships with the project, the answer, per-host timings, and
 * whether dense attention answers the same.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Find a needle in a long haystack with star attention over in-process hosts, and check it against dense attention.")
public final class DemoCommand implements Callable<Integer> {
    static final String DEFAULT_MODEL = "models/starattn-tiny-q8_0.gguf";

    @Option(names = {"-m", "--model"}, description = "Model (default: the shipped " + DEFAULT_MODEL + ").")
    Path model;

    @Option(names = "--tokens", defaultValue = "8192", description = "Haystack length in tokens (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--seed", defaultValue = "7", description = "Seed of the haystack, key and value (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-dense", description = "Skip the dense comparison.")
    boolean noDense;

    private static final String[] ADJ = {"amber", "brisk", "calm", "dusty", "eager", "fuzzy", "gentle", "hollow", "icy", "jolly",
        "keen", "lucky", "mellow", "noble", "odd", "proud", "quiet", "rapid", "silent", "tidy"};
    private static final String[] NOUN = {"anchor", "badger", "canyon", "dragon", "ember", "falcon", "garden", "harbor",
        "island", "jungle", "kettle", "lantern", "meadow", "nectar", "orchid", "pepper", "quarry", "river", "saddle", "tunnel"};
    static final String REPEAT = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

    @Override
    public Integer call() throws Exception {
        Path path = model != null ? model : Path.of(System.getProperty("starattn.home", ".")).resolve(DEFAULT_MODEL);
        if (!Files.exists(path)) {
            throw new IllegalArgumentException("the demo model " + path + " is missing; pass one with -m");
        }
        if (tokens < 256) throw new IllegalArgumentException("--tokens must be at least 256");
        if (hosts < 1) throw new IllegalArgumentException("--hosts must be at least 1");
        try (LoadedModel m = ModelCli.load(path, true)) {
            Random r = new Random(seed);
            String key = ADJ[r.nextInt(ADJ.length)] + "-" + NOUN[r.nextInt(NOUN.length)];
            String value = String.valueOf(1_000_000 + r.nextInt(9_000_000));
            String needle = "One of the special magic numbers for " + key + " is: " + value + ".";
            String query = "What is the special magic number for " + key + " mentioned in the provided text?";
            String prefix = " The special magic number for " + key + " mentioned in the provided text is";
            Prompt p = haystack(m, r, needle, query + prefix);
            System.out.printf("%nHaystack: %d tokens of filler with one needle at %.0f%% depth.%n", p.context().length, depth * 100);
            System.out.println("Needle:   " + needle);
            System.out.println("Question: " + query);

            EngineOptions star = EngineOptions.of(AttentionMode.STAR, hosts);
            Answer s = answer(m, star, p);
            System.out.printf("%nStar attention, %d hosts, block = anchor = %d tokens:%n", hosts, star.effectiveBlockSize(p.context().length));
            System.out.println("  answer:" + s.text);
            printHosts(s);
            boolean starRight = s.text.contains(value);
            System.out.println("  " + (starRight ? "correct" : "WRONG") + " (expected " + value + ")");
            if (!noDense) {
                Answer d = answer(m, EngineOptions.dense(), p);
                System.out.printf("%nDense attention, 1 host:%n  answer:%s%n", d.text);
                System.out.printf("  phase 1 %.0f ms, first token %.0f ms%n", d.enc.phase1Nanos() / 1e6, d.result.ttftNanos() / 1e6);
                System.out.println(d.text.equals(s.text) ? "\nStar and dense give the same answer."
                        : "\nStar and dense answers differ.");
                System.out.printf("Phase 1: star's slowest host %.0f ms vs dense %.0f ms (%.2fx).%n",
                        s.enc.phase1CriticalPathNanos() / 1e6, d.enc.phase1Nanos() / 1e6,
                        (double) d.enc.phase1Nanos() / s.enc.phase1CriticalPathNanos());
            }
            return starRight ? 0 : 3;
        }
    }

    private double depth;

    /** Repeated filler lines with the needle inserted as an extra line at a random depth, sized to --tokens. */
    private Prompt haystack(LoadedModel m, Random r, String needle, String queryText) {
        String head = "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n";
        int perLine = m.tokenizer().encode(REPEAT + "\n").length;
        int lines = Math.max(1, (tokens - 80) / perLine);
        int at = r.nextInt(lines + 1);
        depth = (double) at / lines;
        while (true) {
            List<String> all = new ArrayList<>();
            for (int i = 0; i < lines; i++) all.add(REPEAT);
            all.add(Math.min(at, all.size()), needle);
            Prompt p = Prompt.of(m, PromptTemplate.BASE, head + String.join("\n", all) + "\n", queryText);
            if (p.context().length + p.query().length + 32 <= tokens || lines == 1) return p;
            lines -= Math.max(1, (p.context().length + p.query().length + 32 - tokens) / perLine);
        }
    }

    private record Answer(String text, EncodedContext enc, GenerationResult result) {}

    private Answer answer(LoadedModel m, EngineOptions o, Prompt p) {
        InferenceEngine e = new InferenceEngine(m.model(), o);
        EncodedContext enc = e.encode(p.context(), new Phase1Progress(System.err));
        TokenStreamDecoder dec = new TokenStreamDecoder(m.tokenizer(), false);
        StringBuilder sb = new StringBuilder();
        GenerationResult g = e.generate(enc, p.query(), SamplingOptions.greedy(), 24, m.tokenizer()::isEndOfGeneration,
                id -> sb.append(dec.feed(id)));
        sb.append(dec.finish());
        String text = sb.toString();
        int nl = text.indexOf('\n');
        return new Answer(nl >= 0 ? text.substring(0, nl) : text, enc, g);
    }

    private static void printHosts(Answer a) {
        System.out.println("  host      blocks  tokens   phase-1 ms  phase-2 ms  KV MiB");
        for (int i = 0; i < a.result.hosts().size(); i++) {
            HostStats h = a.result.hosts().get(i);
            System.out.printf("  %-9s %6d %7d %12.0f %11.0f %7.1f%s%n", h.name, h.blocks, h.tokens, h.phase1Nanos / 1e6,
                    h.phase2Nanos / 1e6, a.enc.hosts().get(i).kvBytes() / 1048576.0,
                    a.enc.queryHost() == a.enc.hosts().get(i) ? "  (query host)" : "");
        }
        System.out.printf("  phase 1 wall %.0f ms here (hosts take turns in one process), slowest host %.0f ms; first token %.0f ms%n",
                a.enc.phase1Nanos() / 1e6, a.enc.phase1CriticalPathNanos() / 1e6, a.result.ttftNanos() / 1e6);
    }
}
