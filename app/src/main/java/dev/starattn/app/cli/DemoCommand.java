package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import dev.starattn.app.eval.EvalSample;
import dev.starattn.app.eval.EvalTemplate;
import dev.starattn.app.eval.PromptTokens;
import dev.starattn.app.eval.SampleBuilder;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.nio.file.Files;
import java.nio.file.Path;
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

    @Option(names = {"-m", "--model"}, description = "Model: a file, a directory or ORG/NAME from the Hugging Face cache (default: the shipped " + DEFAULT_MODEL + ").")
    Path model;

    @Option(names = "--tokens", defaultValue = "8192", description = "Haystack length in tokens (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--seed", defaultValue = "7", description = "Seed of the haystack, key and value (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--no-dense", description = "Skip the dense comparison.")
    boolean noDense;

    @Override
    public Integer call() throws Exception {
        if (tokens < 512) throw new UsageException("--tokens must be at least 512, got " + tokens);
        // The haystack is about --tokens long: enough to know before loading whether the hosts can share it.
        UsageException.check(() -> EngineOptions.of(Strategies.STAR, hosts).requireSplit(tokens));
        Path path = model != null ? dev.starattn.hub.ModelLocator.resolve(model.toString(), null) : Path.of(dev.starattn.config.Switches.home()).resolve(DEFAULT_MODEL);
        if (!Files.exists(path)) {
            throw new UsageException("the demo model " + path + " is missing; pass one with -m");
        }
        try (LoadedModel m = ModelCli.load(path, true)) {
            // A RULER niah_single_2 sample: essay-style prose with one needle, sized to --tokens.
            EvalTemplate tpl = EvalTemplate.of(m.template());
            PromptTokens pt = new PromptTokens(m, tpl);
            EvalSample sample = new SampleBuilder(pt, seed).build("niah_single_2", tokens, 0).sample();
            Prompt p = pt.prompt(sample.inputContext(), sample.inputQuery());
            String value = sample.outputs().getFirst();
            String ctx = sample.inputContext();
            int at = ctx.indexOf(value);
            int sentenceStart = Math.max(0, ctx.lastIndexOf("One of the special magic", at));
            String needle = ctx.substring(sentenceStart, ctx.indexOf('.', at) + 1).trim();
            String question = sample.inputQuery().strip();
            System.out.printf("%nHaystack: %d tokens of prose with one needle at %.0f%% depth.%n", p.context().length,
                    100.0 * at / ctx.length());
            System.out.println("Needle:   " + needle);
            System.out.println("Question: " + question);

            // Warm the JIT on a short prefix first, so that neither mode pays for compilation.
            new InferenceEngine(m.model(), EngineOptions.dense())
                    .encode(java.util.Arrays.copyOf(p.context(), Math.min(512, p.context().length)), ProgressListener.NONE);
            EngineOptions star = EngineOptions.of(Strategies.STAR, hosts);
            Answer s = answer(m, tpl, star, p);
            System.out.printf("%nStar attention, %d hosts, block = anchor = %d tokens:%n", hosts, star.effectiveBlockSize(p.context().length));
            System.out.println("  answer: " + s.text);
            printHosts(s);
            boolean starRight = s.text.contains(value);
            System.out.println("  " + (starRight ? "correct" : "WRONG") + " (expected " + value + ")");
            if (!noDense) {
                Answer d = answer(m, tpl, EngineOptions.dense(), p);
                System.out.printf("%nDense attention, 1 host:%n  answer: %s%n", d.text);
                System.out.printf("  phase 1 %.0f ms, first token %.0f ms%n", d.enc.phase1Nanos() / 1e6, d.result.ttftNanos() / 1e6);
                System.out.println(d.text.equals(s.text) ? "\nStar and dense give the same answer."
                        : "\nStar and dense answers differ.");
                System.out.printf("Phase 1: star's slowest host %.0f ms vs dense %.0f ms: a %.2fx speedup with %d hosts on %d machines.%n",
                        s.enc.phase1CriticalPathNanos() / 1e6, d.enc.phase1Nanos() / 1e6,
                        (double) d.enc.phase1Nanos() / s.enc.phase1CriticalPathNanos(), hosts, hosts);
            }
            return 0; // the demo ran; whether the model found the needle is reported above, not an error
        }
    }

    private record Answer(String text, EncodedContext enc, GenerationResult result) {}

    private Answer answer(LoadedModel m, EvalTemplate tpl, EngineOptions o, Prompt p) {
        InferenceEngine e = new InferenceEngine(m.model(), o);
        EncodedContext enc = e.encode(p.context(), new Phase1Progress(System.err));
        TokenStreamDecoder dec = new TokenStreamDecoder(m.tokenizer(), false);
        StringBuilder sb = new StringBuilder();
        GenerationResult g = e.generate(enc, p.query(), SamplingOptions.greedy(), 32, m.tokenizer()::isEndOfGeneration,
                id -> sb.append(dec.feed(id)));
        sb.append(dec.finish());
        return new Answer(tpl.cut(sb.toString()), enc, g);
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
