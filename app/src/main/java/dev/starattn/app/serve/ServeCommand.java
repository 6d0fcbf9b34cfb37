package dev.starattn.app.serve;

import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.AutoAttention;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.app.cli.ModelOption;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.app.cli.InputFiles;
import dev.starattn.cli.UsageException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code starattn serve}: the OpenAI-compatible HTTP API and the web page. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve a model over HTTP: OpenAI-compatible /v1/chat/completions and /v1/completions (streaming), "
                + "documents encoded once and asked many questions (/v1/documents), /health, /metrics and a web page at /.")
public final class ServeCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port (0 = any free one; default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only).")
    String bind;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts, 1 to " + EngineOptions.MAX_HOSTS
            + " (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--attention", defaultValue = "star", description = "star, star-pass, ring, ring-zigzag, dense, or auto (each context on dense, star or star-pass, "
            + "whichever the FLOP model and this machine's measured throughput predict fastest for its length; the response's "
            + "attention_choice says why) (default: ${DEFAULT-VALUE}).")
    String attention;

    @Option(names = "--max-context", defaultValue = "0", description = "Most tokens per request, context + query + answer (0 = the model's context length).")
    int maxContext;

    @Option(names = "--max-concurrent", defaultValue = "2", description = "Requests and document encodings running at once (default: ${DEFAULT-VALUE}).")
    int maxConcurrent;

    @Option(names = "--queue", defaultValue = "16", description = "Requests that may wait; one more gets 429. Requests with a body read or served at once are at most --max-concurrent + --queue (default: ${DEFAULT-VALUE}).")
    int queue;

    @Option(names = "--timeout-s", defaultValue = "300", description = "Per request, queueing included (default: ${DEFAULT-VALUE}).")
    long timeoutS;

    @Option(names = "--max-body-bytes", defaultValue = "16777216", description = "Largest request body; a larger one gets 413 (default: ${DEFAULT-VALUE}).")
    long maxBodyBytes;

    @Option(names = "--api-key-file", description = "File holding the bearer token that /v1/* and /metrics require.")
    Path apiKeyFile;

    @Option(names = "--document-ttl-s", defaultValue = "1800", description = "Documents are dropped after this long unused (default: ${DEFAULT-VALUE}).")
    long ttlS;

    @Option(names = "--memory-budget", defaultValue = "4294967296", description = "Most KV bytes held by documents and requests together (default: ${DEFAULT-VALUE}).")
    long memoryBudget;

    @Option(names = "--max-documents", defaultValue = "64", description = "Documents held at once, any status; one more gets 507 (default: ${DEFAULT-VALUE}).")
    int maxDocuments;

    @Option(names = "--max-document-bytes", defaultValue = "67108864",
            description = "UTF-8 bytes of document text held at once, all documents together; a document that does not fit gets 507 (default: ${DEFAULT-VALUE}).")
    long maxDocumentBytes;

    @Option(names = "--max-name-chars", defaultValue = "256", description = "Longest document name (default: ${DEFAULT-VALUE}).")
    int maxNameChars;

    @Option(names = "--allow-origin", paramLabel = "ORIGIN",
            description = "A browser origin (scheme://host[:port], or * for any) besides the server's own that may call the API; repeatable."
                    + " Without --api-key-file, requests from other origins get 403.")
    java.util.List<String> allowOrigins = new java.util.ArrayList<>();

    @Option(names = "--max-tokens", defaultValue = "256", description = "New tokens when a request names no max_tokens (default: ${DEFAULT-VALUE}).")
    int defaultMaxTokens;

    @Option(names = "--device", defaultValue = "cpu",
            description = "cpu or cuda: with cuda, every document's hosts and its query host run on the GPUs (dense: the query host alone, on one GPU; the weights"
                    + " uploaded once per GPU, each document's KV on the GPUs until it is dropped; GPU work of concurrent requests takes turns).")
    String device;

    @Option(names = "--gpus", defaultValue = "0", description = "With --device cuda: how many GPUs the hosts are dealt over, round-robin (default 0: every visible GPU).")
    int gpus;

    @picocli.CommandLine.Mixin
    dev.starattn.app.cli.BlockCacheMixin cache;

    @Override
    public Integer call() throws Exception {
        // Every option is checked before the model loads; a bad value is a usage error (exit 2).
        boolean auto = attention.trim().equalsIgnoreCase(AutoAttention.NAME);
        // auto: the hosts are opened for star, the split it may choose; each context's strategy is chosen by its length.
        AttentionStrategy strategy = auto ? Strategies.STAR : UsageException.check(() -> Strategies.byName(attention));
        EngineOptions options = UsageException.check(() -> EngineOptions.of(strategy, hosts));
        if (!strategy.splitsContext() && (hosts < 1 || hosts > EngineOptions.MAX_HOSTS)) {
            throw new UsageException("--hosts takes 1 to " + EngineOptions.MAX_HOSTS + ", got " + hosts);
        }
        String key = null;
        if (apiKeyFile != null) {
            key = InputFiles.readText(apiKeyFile, "--api-key-file").strip();
            if (key.isEmpty()) throw new UsageException("--api-key-file " + apiKeyFile + " is empty");
        }
        String apiKey = key;
        ServerConfig cfg = UsageException.check(() -> new ServerConfig(bind, port, maxContext, maxConcurrent, queue,
                Duration.ofSeconds(timeoutS), maxBodyBytes, apiKey, Duration.ofSeconds(ttlS), memoryBudget, defaultMaxTokens,
                maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins));
        // The device's checks come before the model loads: whether a GPU is usable.
        if (dev.starattn.app.cli.CudaHosts.check(device)) {
            if (cache.enabled()) throw new IllegalArgumentException("--cache-dir keeps star blocks of CPU hosts; --device cuda does not use it");
            dev.starattn.app.cli.CudaHosts.requireUsable(device);
        }
        LoadedModel m = ModelLoader.load(model.path());
        dev.starattn.app.hosts.HostFactory hosts = dev.starattn.app.hosts.HostFactory.open(m, options, dev.starattn.app.hosts.HostFactory.Spec.local(
                device, gpus, dev.starattn.app.cli.EngineMixin.GPU_PREFILL_CHUNK, cache.create(m, w -> System.err.println("warning: " + w))));
        InferenceEngine engine = hosts.engine(options);
        dev.starattn.cuda.CudaPipelines gpu = hosts.pipelines();
        AutoAttention.Picker picker = auto ? AutoAttention.Picker.of(m.model(), options, AutoAttention.Placement.of(false, gpu != null)) : null;
        // One line per request on stderr, stamped with the time (UTC) as access logs are.
        StarServer s = new StarServer(m, engine, cfg, line -> System.err.println(
                java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS) + " " + line), picker);
        try {
            s.start();
        } catch (java.io.IOException e) {
            hosts.close();
            throw new IllegalArgumentException("cannot listen on " + bind + ":" + port + ": " + e.getMessage());
        }
        if (picker != null) {
            System.err.printf(java.util.Locale.ROOT, "attention auto: dense, star%s per context by its length, at %.2g FLOP/s measured here%n",
                    gpu == null ? " or star-pass" : "", picker.flopsPerSecond());
        }
        System.err.printf("serving %s (%s, %s attention over %d host(s)%s) on http://%s:%d/%s%n", s.modelId(), m.config(),
                auto ? AutoAttention.NAME : options.strategy().name(), options.hostsUsed(), gpu == null ? "" : " on " + gpu.describe(),
                bind.contains(":") ? "[" + bind + "]" : bind, s.port(), key != null ? " (API key required)" : "");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                s.close();
            } catch (Exception ignored) {
                // shutting down
            }
        }));
        s.join();
        return 0;
    }
}
