package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.attention.KvType;

import dev.starattn.app.eval.DataFiles;
import dev.starattn.app.eval.EvalReport;
import dev.starattn.app.eval.EvalRunner;
import dev.starattn.app.eval.EvalSample;
import dev.starattn.app.eval.EvalTemplate;
import dev.starattn.app.eval.PredictionStore;
import dev.starattn.app.eval.Presets;
import dev.starattn.app.eval.PromptTokens;
import dev.starattn.app.eval.RunConfig;
import dev.starattn.app.eval.SampleBuilder;
import dev.starattn.app.eval.Task;
import dev.starattn.app.eval.Tasks;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.app.hosts.HostFactory;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.AutoAttention;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.EngineOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code starattn eval}: RULER- and BABILong-style accuracy, star against dense and ring. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Long-context accuracy (RULER- and BABILong-style tasks): dense, star and ring side by side.")
public final class EvalCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--suite", defaultValue = "ruler", description = "ruler or babilong (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--tasks", split = ",", description = "Tasks of the suite to run (default: all).")
    List<String> tasks;

    @Option(names = "--lengths", split = ",", defaultValue = "4k", description = "Target lengths in tokens, e.g. 4k,8k,16k (default: ${DEFAULT-VALUE}).")
    List<String> lengths;

    @Option(names = "--attention", split = ",", defaultValue = "dense,star", description = "Modes to compare: dense, star, star-pass (star-pass:K passes K rows), ring, ring-zigzag, or auto (what "
            + "generate's --attention auto would run at each length, said in the report) (default: ${DEFAULT-VALUE}).")
    List<String> attention;

    @Option(names = "--hosts", defaultValue = "4", description = "Context hosts for star and ring (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--block-size", split = ",", defaultValue = "auto", description = "Star block sizes: auto (= N/hosts), tokens, or N/K; several give a block-size sweep.")
    List<String> blockSizes;

    @Option(names = "--anchor-size", description = "Star anchor: b (= block size), tokens, or b/K; 0 = no anchor (default: the strategy's, "
            + "b for star, b/4 for star-pass).")
    String anchorSize;

    @Option(names = "--anchor-positions", defaultValue = "original", description = "original, adjacent or random.")
    String anchorPositions;

    @Option(names = "--anchor-content", defaultValue = "first", description = "first, previous, shuffled or random (tokens drawn from the whole context).")
    String anchorContent;

    @Option(names = "--kv-type", defaultValue = "f32", description = "KV cache type of every host: f32, f16 or q8_0 (default: ${DEFAULT-VALUE}).")
    String kvType;

    @Option(names = "--preset", description = "Ablation: " + "no-anchor, anchor-positions, anchor-content, anchor-size, block-size (replaces --attention).")
    String preset;

    @Option(names = "--samples", defaultValue = "10", description = "Samples per task and length (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the generated samples (default: ${DEFAULT-VALUE}).")
    long seed;

    @picocli.CommandLine.Mixin
    PromptTemplateMixin template;

    @Option(names = "--json", description = "Print one JSON object with the results on stdout.")
    boolean json;

    @Option(names = "--out", description = "Directory for predictions.jsonl (resumable), report.md, results.json and plots.")
    Path out;

    @Option(names = "--device", defaultValue = "cpu",
            description = "cpu or cuda: with cuda every configuration runs on the GPUs (the weights uploaded once per GPU, bf16 KV).")
    String device;

    @Option(names = "--gpus", defaultValue = "0", description = "With --device cuda: how many GPUs the hosts are dealt over (default 0: every visible GPU).")
    int gpus;

    @Option(names = "--data", description = "Run an external data set (jsonl: input_context, input_query, outputs or output) instead of generating one.")
    Path data;

    @Option(names = "--export", description = "Write the generated samples as jsonl (the reference's format) and exit.")
    Path export;

    @Override
    public Integer call() throws Exception {
        if (samples < 1) throw new UsageException("--samples must be at least 1, got " + samples);
        if (data != null && export != null) throw new UsageException("--data and --export exclude each other");
        List<Integer> lens = new ArrayList<>();
        for (String l : lengths) lens.add(UsageException.check(() -> parseLength(l)));
        List<RunConfig> configs = new ArrayList<>(UsageException.check(this::configs));
        // The data set is read before the model loads: a bad file fails at once, and - (standard input) is read once.
        List<EvalSample> dataSamples = null;
        if (data != null) {
            String text = InputFiles.readText(data, "--data");
            dataSamples = UsageException.check(() -> DataFiles.parse(text, InputFiles.describe(data, "--data"),
                    InputFiles.isStdin(data) ? "stdin" : data.getFileName().toString()));
        }
        // Whether every configuration's hosts can share a context of each length, before the model loads.
        List<Integer> checkLens = dataSamples == null ? lens
                : dataSamples.stream().map(x -> x.targetLength() > 0 ? x.targetLength() : x.length()).filter(x -> x > 0).distinct().toList();
        for (RunConfig c : configs) {
            for (int len : checkLens) UsageException.check(() -> c.options(len, seed).requireSplit(len));
        }
        boolean cuda = CudaHosts.check(device);
        if (cuda) {
            if (!kvType.equalsIgnoreCase("f32")) throw new IllegalArgumentException("--kv-type sets the CPU hosts' cache; on --device cuda the KV is bf16: drop --kv-type");
            if (export == null) CudaHosts.requireUsable(device);
        }
        try (LoadedModel m = ModelCli.load(model.path(), false)) {
            PromptTemplate pt = template.of(m);
            EvalTemplate tpl = EvalTemplate.of(pt);
            PromptTokens tokens = new PromptTokens(m, tpl);
            List<String> notes = new ArrayList<>();
            List<EvalRunner.TaskRun> runs = new ArrayList<>();
            String source;
            String suiteName;
            if (data != null) {
                suiteName = "data:" + (InputFiles.isStdin(data) ? "stdin" : data.getFileName());
                source = "data:" + (InputFiles.isStdin(data) ? "stdin" : data.toAbsolutePath().normalize());
                // one group per task and target length (our target_length field; else the task's longest sample)
                Map<String, List<EvalSample>> groups = new LinkedHashMap<>();
                for (EvalSample s : dataSamples) groups.computeIfAbsent(s.task() + "\u0000" + s.targetLength(), k -> new ArrayList<>()).add(s);
                for (List<EvalSample> g : groups.values()) {
                    List<EvalSample> take = g.subList(0, Math.min(samples, g.size()));
                    if (take.size() < g.size()) {
                        // Said in the report too: a data set run only in part must not read as the whole of it.
                        notes.add(String.format("%s: %d of the data set's %d samples run (--samples %d)", g.get(0).task(),
                                take.size(), g.size(), samples));
                        if (!json) System.err.printf("%s: running %d of %d samples (--samples)%n", g.get(0).task(), take.size(), g.size());
                    }
                    int len = g.get(0).targetLength();
                    if (len <= 0) for (EvalSample s : g) len = Math.max(len, s.length());
                    runs.add(new EvalRunner.TaskRun(g.get(0).task(), Math.max(0, len), take));
                }
            } else {
                suiteName = suite.toLowerCase(Locale.ROOT);
                // "fill95": samples short of 95 % of L are grown past the coarse grid (SampleBuilder.FILL), so
                // predictions stored for the shorter samples of earlier builds are not resumed as if for these.
                source = "gen:" + suiteName + "|seed=" + seed + "|template=" + tpl.name() + "|fill95";
                SampleBuilder builder = new SampleBuilder(tokens, seed);
                List<String> names = Tasks.select(suite, tasks);
                List<EvalSample> all = new ArrayList<>();
                for (String t : names) {
                    for (int len : lens) {
                        if (!json || export != null) System.err.printf("generating %s @%d ...%n", t, len);
                        List<EvalSample> ss = builder.samples(t, len, samples);
                        all.addAll(ss);
                        runs.add(new EvalRunner.TaskRun(t, len, ss));
                        Task task = builder.task(t);
                        String note = task.note(len);
                        if (note != null) notes.add(note);
                    }
                }
                if (export != null) {
                    DataFiles.write(export, all);
                    System.err.printf("wrote %d samples to %s%n", all.size(), export);
                    return 0;
                }
            }
            List<EvalReport.AutoPick> picks = autoPicks(m, checkLens, configs, cuda);
            try (PredictionStore store = new PredictionStore(out)) {
                KvType kv = KvType.parse(kvType);
                // A KV type other than f32, or the GPUs, is part of what was run: it keys the resumable predictions.
                if (kv != KvType.F32) source = source + "|kv=" + kv.cliName();
                if (cuda) source = source + "|device=cuda";
                List<EvalRunner.Result> results;
                int maxHosts = configs.stream().mapToInt(RunConfig::hosts).max().orElse(1);  // dense configurations have 1
                try (HostFactory hosts = HostFactory.open(m, EngineOptions.of(Strategies.STAR, maxHosts),
                        HostFactory.Spec.local(device, gpus, EngineMixin.GPU_PREFILL_CHUNK, null))) {
                    if (hosts.pipelines() != null && !json) System.err.println("eval on " + hosts.pipelines().describe());
                    results = new EvalRunner(m, tpl, configs, seed, source, store, System.err).withKvType(kv).withHosts(hosts).run(runs);
                }
                EvalReport report = new EvalReport(new EvalReport.Meta(m.path().getFileName().toString(), suiteName, tpl.name(),
                        seed, samples, notes, picks), results);
                if (out != null) report.write(out);
                if (json) {
                    System.out.println(PredictionStore.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report.toJson()));
                } else {
                    System.out.println(report.markdown());
                    if (out != null) System.err.println("report: " + out.resolve("report.md"));
                }
            }
        }
        return 0;
    }

    /** 4k = 4096, 128K = 131072, 1000 = 1000. */
    public static int parseLength(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        try {
            int v = t.endsWith("k") ? Integer.parseInt(t.substring(0, t.length() - 1)) * 1024 : Integer.parseInt(t);
            if (v > 0) return v;
        } catch (NumberFormatException ignored) {
            // fall through
        }
        throw new IllegalArgumentException("--lengths takes token counts like 4k,8k,16000, got '" + s + "'");
    }

    /** --anchor-size when given, else the strategy's own default ("b" where that is the block, "default" otherwise). */
    private String anchorSpec(AttentionStrategy s) {
        if (anchorSize != null) return anchorSize;
        return s.defaultAnchorSize(1 << 20) == 1 << 20 ? "b" : RunConfig.STRATEGY_ANCHOR;
    }

    private List<RunConfig> configs() {
        AnchorPositions ap;
        AnchorContent ac;
        try {
            ap = AnchorPositions.parse(anchorPositions);
            ac = AnchorContent.parse(anchorContent);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--anchor-positions takes original, adjacent or random and --anchor-content takes first, previous, shuffled or random");
        }
        RunConfig star = new RunConfig(Strategies.STAR, hosts, blockSizes.get(0), anchorSpec(Strategies.STAR), ap, ac);
        if (preset != null) return Presets.expand(preset.toLowerCase(Locale.ROOT), star);
        List<RunConfig> out = new ArrayList<>();
        for (String a : attention) {
            if (isAuto(a)) continue;  // resolved per length once the model is loaded (autoPicks)
            AttentionStrategy mode = Strategies.byName(a.trim());
            if (mode.blockwise()) {
                RunConfig first = new RunConfig(mode, hosts, blockSizes.get(0), anchorSpec(mode), ap, ac);
                for (String b : blockSizes) out.add(first.withBlock(b));
            } else {
                RunConfig c = new RunConfig(mode, hosts, "auto", "b", ap, ac);
                if (out.stream().noneMatch(x -> x.key().equals(c.key()))) out.add(c);
            }
        }
        if (out.isEmpty() && !autoAsked()) throw new IllegalArgumentException("--attention names no mode");
        return out;
    }

    private static boolean isAuto(String a) {
        return a.trim().equalsIgnoreCase(AutoAttention.NAME);
    }

    private boolean autoAsked() {
        return preset == null && attention.stream().anyMatch(EvalCommand::isAuto);
    }

    /**
     * {@code --attention auto}: for each length, the configuration generate's auto would run there (the same
     * {@link AutoAttention}, this machine's measured throughput), added to {@code configs} when not there already.
     */
    private List<EvalReport.AutoPick> autoPicks(LoadedModel m, List<Integer> lens, List<RunConfig> configs, boolean cuda) {
        if (!autoAsked()) return List.of();
        AnchorPositions ap = AnchorPositions.parse(anchorPositions);
        AnchorContent ac = AnchorContent.parse(anchorContent);
        RunConfig star = new RunConfig(Strategies.STAR, hosts, blockSizes.get(0), anchorSize != null ? anchorSize : "b", ap, ac);
        List<EvalReport.AutoPick> picks = new ArrayList<>();
        for (int len : lens) {
            // The anchor left to each candidate strategy unless --anchor-size names one, as generate leaves it.
            EngineOptions asked = star.options(len, seed);
            if (anchorSize == null) asked = asked.withAnchorSize(-1);
            AutoAttention.Choice choice = AutoAttention.Picker.of(m.model(), asked, AutoAttention.Placement.of(false, cuda)).choose(len);
            AttentionStrategy s = choice.strategy();
            RunConfig c = new RunConfig(s, choice.hosts(), blockSizes.get(0), anchorSpec(s), ap, ac);
            if (configs.stream().noneMatch(x -> x.key().equals(c.key()))) configs.add(c);
            picks.add(new EvalReport.AutoPick(len, c, choice));
            if (!json) System.err.println("@" + len + " " + AttentionChoiceJson.line(choice));
        }
        return picks;
    }
}
