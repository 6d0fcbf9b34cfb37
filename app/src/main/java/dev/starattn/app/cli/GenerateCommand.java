package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.app.hosts.HostFactory;
import dev.starattn.engine.strategy.AutoAttention;
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
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code starattn generate}: one question about one long context. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Encode a long context over hosts (phase 1), then answer a query (phase 2).")
public final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    ContextSource context;

    static final class ContextSource {
        @Option(names = "--context-file", description = "File holding the context text.")
        Path file;
        @Option(names = "--context", description = "The context text.")
        String text;
        @Option(names = "--context-tokens", description = "File of whitespace- or comma-separated token ids.")
        Path tokens;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    QuerySource query;

    static final class QuerySource {
        @Option(names = "--query-file", description = "File holding the query text.")
        Path file;
        @Option(names = "--query", description = "The query text.")
        String text;
        @Option(names = "--query-tokens", description = "File of whitespace- or comma-separated token ids.")
        Path tokens;
    }

    @Mixin
    EngineMixin engine;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ClusterClientMixin cluster;

    @Option(names = {"-n", "--max-new-tokens"}, defaultValue = "64", description = "Tokens to generate at most (default: ${DEFAULT-VALUE}).")
    int maxNew;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling threshold (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for sampling and random anchors.")
    long seed;

    @Option(names = "--chat", description = "Wrap context and query in the model's own chat template (the Llama 3 template where it has none).")
    boolean chat;

    @Mixin
    PromptTemplateMixin template;

    @Option(names = "--device", defaultValue = "cpu",
            description = "cpu or cuda: with cuda, the context hosts and the query host run on the GPUs (dense: the query host alone, on one GPU).")
    String device;

    @Option(names = "--query-host", defaultValue = "gpu",
            description = "With --device cuda: gpu (default: every host on the GPUs, the last the query host; phase-2 partials gathered"
                    + " on its GPU by peer copies and merged there) or cpu (the query host in this process on the CPU; the other"
                    + " hosts' partials come back to it).")
    String queryHost;

    @Option(names = "--gpus", defaultValue = "0",
            description = "With --device cuda: how many GPUs the context hosts are dealt over, round-robin (default 0: every visible GPU).")
    int gpus;

    @Option(names = "--json", description = "Print one JSON object with the answer, timings and per-host figures.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (maxNew < 0) throw new UsageException("-n must be 0 or more, got " + maxNew);
        if (!queryHost.equals("gpu") && !queryHost.equals("cpu")) throw new UsageException("--query-host takes gpu or cpu, not " + queryHost);
        EngineOptions asked = engine.options(seed);
        SamplingOptions sampling = UsageException.check(() -> new SamplingOptions(temperature, topP, seed));
        java.io.PrintWriter err = spec.commandLine().getErr();
        java.io.PrintWriter out = spec.commandLine().getOut();
        // Texts are checked before tokenizing: a BOS alone would make an empty context look non-empty.
        if (context.text != null && context.text.isBlank()) throw new UsageException("the context is empty");
        if (query.text != null && query.text.isBlank()) throw new UsageException("the query is empty");
        // Every input is read before the model loads: a bad file fails at once, and standard input is read once.
        Path[] inputs = {context.file, context.tokens, query.file, query.tokens};
        if (java.util.Arrays.stream(inputs).filter(InputFiles::isStdin).count() > 1) {
            throw new UsageException("only one of --context-file, --context-tokens, --query-file and --query-tokens can be - (standard input)");
        }
        String ctxText = context.text != null ? context.text
                : context.file != null ? InputFiles.readText(context.file, "--context-file") : null;
        String qText = query.text != null ? query.text : query.file != null ? InputFiles.readText(query.file, "--query-file") : null;
        String ctxIds = context.tokens != null ? TokenFiles.readText(context.tokens, "--context-tokens") : null;
        String qIds = query.tokens != null ? TokenFiles.readText(query.tokens, "--query-tokens") : null;
        CudaHosts.requireUsable(device);
        long loadStart = System.nanoTime();
        // Progress lines wait until the inputs are checked, so that bad input gives exactly one line.
        if (!engine.remote()) cluster.checkUnused();
        try (LoadedModel m = ModelCli.load(model.path(), (java.io.PrintWriter) null)) {
            long loadNanos = System.nanoTime() - loadStart;
            PromptTemplate tpl = chat && m.template().chat() == null ? PromptTemplate.LLAMA3 : template.of(m);
            int[] ctxTokens, qTokens;
            int vocab = m.config().vocabSize();
            if (ctxIds != null || qIds != null) {
                ctxTokens = ctxIds != null ? TokenFiles.parse(ctxIds, context.tokens, "--context-tokens", vocab)
                        : Prompt.of(m, tpl, ctxText, "x").context();
                qTokens = qIds != null ? TokenFiles.parse(qIds, query.tokens, "--query-tokens", vocab)
                        : m.tokenizer().encodeWithSpecialTokens(qText + tpl.suffix());
            } else {
                Prompt p = Prompt.of(m, tpl, ctxText, qText);
                ctxTokens = p.context();
                qTokens = p.query();
            }
            if (ctxTokens.length == 0) throw new UsageException("the context is empty");
            if (qTokens.length == 0) throw new UsageException("the query is empty");
            int maxLen = m.config().contextLength();
            long need = (long) ctxTokens.length + qTokens.length + maxNew;
            if (maxLen > 0 && need > maxLen) {
                throw new UsageException("the prompt (" + ctxTokens.length + " context + " + qTokens.length
                        + " query tokens) plus " + maxNew + " new tokens needs " + need + " positions but the model's context length is "
                        + maxLen + "; shorten the context or lower -n");
            }
            // Whether the hosts can share this context: known only now that it is tokenized, checked before phase 1.
            int ctxLen = ctxTokens.length;
            boolean cuda = CudaHosts.check(device);
            AutoAttention.Choice choice = engine.auto() ? engine.chooseAttention(m.model(), asked, ctxLen, cuda) : null;
            EngineOptions options = choice == null ? asked : choice.applyTo(asked);
            if (choice != null && !json) err.println(AttentionChoiceJson.line(choice));
            UsageException.check(() -> InferenceEngine.checkSplit(options, engine.remote() ? engine.hostAddrs().size() : 0, ctxLen));
            if (!json) err.printf("loaded %s (%s) in %.0f ms%n", dev.starattn.hub.ModelLocator.displayName(model.path()), m.config(), loadNanos / 1e6);
            HostFactory.Spec where = new HostFactory.Spec(device, queryHost.equals("gpu"), engine.remote() ? engine.hostAddrs() : List.of(),
                    gpus, engine.gpuPrefillChunk(), engine.remote() ? cluster.options(options.prefillChunk()) : null,
                    engine.remote() || cuda ? null : engine.blockCache(m, err), cluster.releaseAtEnd());
            try (HostFactory hosts = HostFactory.open(m, options, where)) {
                InferenceEngine e = hosts.engine(options);
                if (!json) {
                    String over = hosts.remote() != null
                            ? String.format("%d remote host(s) %s and this process%s", hosts.remote().hosts().size(), engine.hostAddrs(),
                                    cluster.session != null ? ", session " + cluster.session : "")
                            : hosts.pipelines() != null ? String.format("%d host(s) on %s, the query host on a GPU", options.hosts(), hosts.pipelines().describe())
                            : String.format("%d host(s)%s", options.hosts(),
                                    hosts.contextHostGpus() == 0 ? "" : " (context hosts on " + hosts.contextHostGpus() + " GPU(s))");
                    err.printf("context: %d tokens, query: %d tokens, attention: %s over %s%n", ctxTokens.length, qTokens.length,
                            options.strategy().name(), over);
                }
                EncodedContext enc = e.encode(ctxTokens, json ? dev.starattn.engine.ProgressListener.NONE : new Phase1Progress(err));
                if (!json && !enc.placement().isEmpty()) err.println("hosts: " + enc.placement());
                TokenStreamDecoder dec = new TokenStreamDecoder(m.tokenizer(), false);
                StringBuilder text = new StringBuilder();
                GenerationResult r = e.generate(enc, qTokens, sampling, maxNew, m.tokenizer()::isEndOfGeneration, streamTo(dec, text, out));
                text.append(dec.finish());
                if (json) {
                    ObjectNode j = toJson(r, text.toString(), enc, options, e.blockCache());
                    if (choice != null) j.set("attention_choice", AttentionChoiceJson.of(choice));
                    out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(j));
                    out.flush();
                } else {
                    out.println();
                    out.flush();
                    if (e.blockCache() != null) {
                        int hits = 0, misses = 0;
                        for (HostStats h : r.hosts()) {
                            hits += h.cacheHits;
                            misses += h.cacheMisses;
                        }
                        err.printf("block cache: %d hit(s), %d block(s) encoded%n", hits, misses);
                    }
                    err.printf("phase 1: %.0f ms (slowest host %.0f ms), phase 2: %.0f ms, first token %.0f ms, %.1f tokens/s%n",
                            enc.phase1Nanos() / 1e6, enc.phase1CriticalPathNanos() / 1e6, r.phase2Nanos() / 1e6,
                            r.ttftNanos() / 1e6, r.decodeTokensPerSecond());
                    err.flush();
                }
                if (hosts.pipelines() != null) enc.release();  // the GPU pipeline's KV, before its GPUs close
            }
        }
        return 0;
    }

    /** Each token's text: kept for the JSON, printed as it comes unless --json. */
    private java.util.function.IntConsumer streamTo(TokenStreamDecoder dec, StringBuilder text, java.io.PrintWriter out) {
        return id -> {
            String s = dec.feed(id);
            text.append(s);
            if (!json) {
                out.print(s);
                out.flush();
            }
        };
    }

    static ObjectNode toJson(GenerationResult r, String text, EncodedContext enc, EngineOptions o) {
        return toJson(r, text, enc, o, null);
    }

    static ObjectNode toJson(GenerationResult r, String text, EncodedContext enc, EngineOptions o, dev.starattn.engine.BlockCache cache) {
        long[] kvBytes = new long[enc.hosts().size()];
        for (int i = 0; i < kvBytes.length; i++) kvBytes[i] = enc.hosts().get(i).kvBytes();
        return toJson(r, text, o, cache, enc.phase1CriticalPathNanos(), enc.queryHost().name(), kvBytes, enc.length());
    }

    /** The JSON of one generation; {@code kvBytes} per host in the order of {@code r.hosts()}. */
    static ObjectNode toJson(GenerationResult r, String text, EngineOptions o, dev.starattn.engine.BlockCache cache, long phase1CriticalPathNanos,
                             String queryHostName, long[] kvBytes, int contextLength) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.put("text", text);
        ArrayNode toks = j.putArray("tokens");
        Arrays.stream(r.tokens()).forEach(toks::add);
        j.put("prompt_tokens", r.promptTokens());
        j.put("context_tokens", r.contextTokens());
        j.put("query_tokens", r.queryTokens());
        j.put("stop_reason", r.stopReason());
        ObjectNode t = j.putObject("timing");
        t.put("phase1_ms", r.phase1Nanos() / 1e6);
        t.put("phase1_critical_path_ms", phase1CriticalPathNanos / 1e6);
        t.put("phase2_ms", r.phase2Nanos() / 1e6);
        t.put("ttft_ms", r.ttftNanos() / 1e6);
        t.put("decode_tokens_per_s", r.decodeTokensPerSecond());
        ArrayNode hosts = j.putArray("hosts");
        for (int i = 0; i < r.hosts().size(); i++) {
            HostStats h = r.hosts().get(i);
            ObjectNode hj = hosts.addObject();
            hj.put("name", h.name);
            hj.put("query_host", queryHostName.equals(h.name));
            hj.put("blocks", h.blocks);
            hj.put("tokens", h.tokens);
            hj.put("kv_bytes", kvBytes[i]);
            hj.put("phase1_ms", h.phase1Nanos / 1e6);
            hj.put("phase1_wait_ms", h.phase1WaitNanos / 1e6);  // star-pass: waiting for the earlier hosts' rows
            hj.put("phase2_ms", h.phase2Nanos / 1e6);
            hj.put("phase1_flops", h.phase1Flops());
            hj.put("phase1_attention_flops", h.phase1AttentionFlops);
            hj.put("phase2_flops", h.phase2Flops());
            hj.put("phase1_bytes_sent", h.phase1BytesSent);
            hj.put("phase1_bytes_received", h.phase1BytesReceived);
            hj.put("phase2_bytes_sent", h.phase2BytesSent);
            hj.put("phase2_bytes_received", h.phase2BytesReceived);
            hj.put("cache_hits", h.cacheHits);
            hj.put("cache_misses", h.cacheMisses);
        }
        j.put("kv_type_k", o.kvTypeK().cliName());
        j.put("kv_type_v", o.kvTypeV().cliName());
        if (cache != null) {
            var cs = cache.stats();
            ObjectNode c = j.putObject("block_cache");
            c.put("dir", String.valueOf(cache.directory()));
            c.put("hits", cs.hits());
            c.put("disk_hits", cs.diskHits());
            c.put("misses", cs.misses());
            c.put("rejected_files", cs.rejectedFiles());
            c.put("disk_bytes", cs.diskBytes());
            c.put("disk_files", cs.diskFiles());
        }
        j.put("attention", o.strategy().name());
        j.put("block_size", o.strategy().blockwise() ? o.effectiveBlockSize(contextLength) : 0);
        j.put("anchor_size", o.strategy().blockwise() ? o.effectiveAnchorSize(contextLength) : 0);
        return j;
    }
}
