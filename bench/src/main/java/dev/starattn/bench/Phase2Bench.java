package dev.starattn.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.cluster.HostProcess;
import dev.starattn.cluster.Cluster;
import dev.starattn.cluster.ClusterOptions;
import dev.starattn.cluster.HostServer;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Phase 2 of star attention over gRPC against the same hosts in this JVM: per decoded token, each
 * layer's round trip (the query host asks every host holding KV for its attention partial and
 * waits for all of them; {@link HostStats#phase2GatherNanos}), measured by the engine itself.
 * Embedded: H in-process hosts, asked in turn. gRPC: H-1 hosts on loopback (Netty, protobuf,
 * real sockets) plus the query host, asked at once: {@link HostServer}s in this JVM, or with
 * {@code --processes} {@code starattn host} JVMs of their own. Both encode the same context;
 * tokens alternate between the two so that drift hits both alike. Phase 1 is reported too: the
 * embedded wall time and critical path, the gRPC client's end-to-end time and each host's own.
 */
@Command(name = "phase2", mixinStandardHelpOptions = true,
        description = "Phase-2 round trip per layer for one decoded token: in-process hosts vs gRPC hosts on loopback.")
public final class Phase2Bench implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = {"-m", "--model"}, description = "Model file (default: a random model, see --random).")
    Path model;

    @Option(names = "--random", defaultValue = "125m", description = "Random model shape when no -m: 125m or tiny (default: ${DEFAULT-VALUE}).")
    String random;

    @Option(names = "--weights", defaultValue = "q8_0", description = "Weight type of the random model.")
    String weights;

    @Option(names = "--context", defaultValue = "4k", description = "Context length, e.g. 4k (default: ${DEFAULT-VALUE}).")
    String context;

    @Option(names = "--hosts", defaultValue = "4", description = "Context hosts H, the query host included: gRPC runs H-1 servers (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--tokens", defaultValue = "300", description = "Decoded tokens timed per path (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--warmup", defaultValue = "100", description = "Untimed tokens per path first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--wire", defaultValue = "f32", description = "Phase-2 number format on the network: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String wire;

    @Option(names = "--processes", description = "Run the gRPC hosts as OS processes ('starattn host --port 0', one JVM each) instead of servers in this JVM.")
    boolean processes;

    @Option(names = "--host-threads", defaultValue = "0",
            description = "Threads of each host process (-Dstarattn.threads); 0: the machine's cores divided by --hosts, as if each host had its own cores (default: ${DEFAULT-VALUE}).")
    int hostThreads;

    @Option(names = "--rpc", defaultValue = "stream,unary", split = ",",
            description = "Phase-2 RPCs to time over gRPC, each its own client on the same hosts: stream (one long-lived stream per host), unary (one call per host and layer) (default: ${DEFAULT-VALUE}).")
    List<String> rpcs;

    @Option(names = "--json", description = "Write the figures as JSON to this file.")
    Path json;

    /** One path's per-token samples, in ms. */
    record Samples(double[] layerRoundTrip, double[] token, double[] remoteCompute) {
        Samples(int n) {
            this(new double[n], new double[n], new double[n]);
        }
    }

    /** One way of running phase 2: its engine, its encoded context, its samples. */
    static final class Path2 {
        final String name;
        final InferenceEngine engine;
        final ClusterOptions.Phase2Rpc rpc;
        EncodedContext enc;
        Samples samples;

        Path2(String name, InferenceEngine engine, ClusterOptions.Phase2Rpc rpc) {
            this.name = name;
            this.engine = engine;
            this.rpc = rpc;
        }
    }

    record Row(String path, double layerRoundTripMs, double layerRoundTripP10Ms, double layerRoundTripP90Ms,
               double tokenMs, double remoteComputePerLayerMs) {}

    @Override
    public Integer call() throws Exception {
        if (hosts < 2) throw new IllegalArgumentException("--hosts must be at least 2 (the query host and one remote host)");
        if (hostThreads < 0) throw new IllegalArgumentException("--host-threads must not be negative");
        if (tokens < 1 || warmup < 0) throw new IllegalArgumentException("--tokens must be positive and --warmup not negative");
        Wire w = switch (wire.toLowerCase(Locale.ROOT)) {
            case "f32" -> Wire.F32;
            case "bf16" -> Wire.BF16;
            default -> throw new IllegalArgumentException("--wire takes f32 or bf16, got " + wire);
        };
        int n;
        try {
            n = Stats.parseSize(context);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--context takes a token count such as 4096 or 4k, got " + context);
        }
        if (n < hosts) throw new IllegalArgumentException("--context must hold at least one token per host");
        List<HostServer> servers = new ArrayList<>();
        List<HostProcess> procs = new ArrayList<>();
        Path logs = processes ? Files.createTempDirectory("starattn-phase2-bench") : null;
        List<ClusterOptions.Phase2Rpc> kinds = new ArrayList<>();
        for (String x : rpcs) {
            ClusterOptions.Phase2Rpc k = ClusterOptions.Phase2Rpc.parse(x.strip());
            if (!kinds.contains(k)) kinds.add(k);
        }
        List<Cluster> clusters = new ArrayList<>();
        try (LoadedModel m = BenchModels.load(model, random, weights)) {
            var cfg = m.config();
            int[] ctx = new Random(n).ints(n, 3, cfg.vocabSize()).toArray();
            EngineOptions o = EngineOptions.of(Strategies.STAR, hosts);
            System.out.printf("model %s (%s), N=%d, H=%d (gRPC: %d %s on loopback + the query host), wire %s, %d threads%n",
                    m.path().getFileName(), cfg, n, hosts, hosts - 1, processes ? "host processes" : "servers in this JVM",
                    w == Wire.BF16 ? "bf16" : "f32", dev.starattn.cpu.Parallel.threads());

            InferenceEngine embedded = new InferenceEngine(m.model(), o);
            List<String> addrs = new ArrayList<>();
            if (processes) {
                int share = hostThreads > 0 ? hostThreads : Math.max(1, Runtime.getRuntime().availableProcessors() / hosts);
                System.err.printf("starting %d host processes (%d threads each) ...%n", hosts - 1, share);
                // The root command's class is the CLI's main class (the app's Main), which the hosts run too.
                List<String> launcher = HostProcess.launcher(spec.root().userObject().getClass().getName(),
                        List.of("-Dstarattn.threads=" + share));
                List<java.util.concurrent.CompletableFuture<HostProcess>> boot = new ArrayList<>();
                for (int h = 0; h < hosts - 1; h++) {
                    Path log = logs.resolve("host-" + h + ".log");
                    boot.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                        try {
                            return HostProcess.start(launcher, m.path(), 0, log, java.time.Duration.ofMinutes(2));
                        } catch (java.io.IOException | InterruptedException e) {
                            throw new IllegalStateException("cannot start a host process: " + e.getMessage(), e);
                        }
                    }));
                }
                RuntimeException failed = null;
                for (var f : boot) {
                    try {
                        procs.add(f.join());
                    } catch (java.util.concurrent.CompletionException e) {
                        failed = e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
                    }
                }
                if (failed != null) throw failed;
                for (HostProcess p : procs) addrs.add(p.address());
            } else {
                for (int h = 0; h < hosts - 1; h++) {
                    HostServer s = HostServer.builder(m).bind("127.0.0.1").port(0).start();
                    servers.add(s);
                    addrs.add("127.0.0.1:" + s.port());
                }
            }
            // One path per phase-2 RPC, each a client of its own (own channels, own sessions) on the same hosts.
            List<Path2> paths = new ArrayList<>();
            paths.add(new Path2("embedded (" + hosts + " in-process hosts)", embedded, null));
            for (ClusterOptions.Phase2Rpc k : kinds) {
                Cluster c = Cluster.connect(addrs, m, ClusterOptions.defaults().withWire(w).withPhase2(k));
                clusters.add(c);
                paths.add(new Path2("gRPC " + k.cliName() + " (" + (hosts - 1) + (processes ? " host processes" : " servers in this JVM")
                        + " + query host)", new InferenceEngine(m.model(), o, c.hosts()), k));
            }
            System.err.println("phase 1 (embedded, then gRPC), once untimed to warm up, then timed ...");
            for (Path2 p : paths) p.engine.encode(ctx, ProgressListener.NONE).release();
            for (Path2 p : paths) p.enc = p.engine.encode(ctx, ProgressListener.NONE);
            EncodedContext encEmbedded = paths.get(0).enc;
            EncodedContext encGrpc = paths.size() > 1 ? paths.get(1).enc : null;
            List<Double> hostPhase1 = new ArrayList<>();
            if (encGrpc != null) {
                for (ContextHost h : encGrpc.hosts()) hostPhase1.add(h.stats().phase1Nanos / 1e6);
                System.out.printf(Locale.ROOT, "phase 1: embedded %.0f ms (critical path %.0f ms); gRPC end to end %.0f ms, each host's own compute %s ms (the query host last)%n",
                        encEmbedded.phase1Nanos() / 1e6, encEmbedded.phase1CriticalPathNanos() / 1e6, encGrpc.phase1Nanos() / 1e6,
                        hostPhase1.stream().map(x -> String.format(Locale.ROOT, "%.0f", x)).toList());
            }

            Random r = new Random(1);
            System.err.printf("warm-up: %d tokens per path ...%n", warmup);
            for (int t = 0; t < warmup; t++) {
                for (Path2 p : paths) decode(p.engine, p.enc, r, cfg.vocabSize());
            }
            for (Path2 p : paths) p.samples = new Samples(tokens);
            for (int t = 0; t < tokens; t++) {
                // Rotate which path goes first, so that none always follows another.
                for (int i = 0; i < paths.size(); i++) {
                    Path2 p = paths.get((t + i) % paths.size());
                    sample(p.samples, t, p.engine, p.enc, r, cfg);
                }
            }
            List<Row> rows = new ArrayList<>();
            for (Path2 p : paths) rows.add(row(p.name, p.samples));
            long qBytes = (long) cfg.qDim() * (w == Wire.BF16 ? 2 : 4);
            long replyBytes = (long) cfg.qDim() * (w == Wire.BF16 ? 2 : 4) + (long) cfg.heads() * 4;
            print(rows, qBytes, replyBytes);
            if (json != null) writeJson(m, n, w, rows, qBytes, replyBytes, encEmbedded, encGrpc, hostPhase1);
            for (Path2 p : paths) p.enc.release();
        } finally {
            for (Cluster c : clusters) c.close();
            for (HostServer s : servers) s.close();
            for (HostProcess p : procs) p.close();
            if (logs != null) {
                try (var files = Files.list(logs)) {
                    for (Path f : files.toList()) Files.deleteIfExists(f);
                }
                Files.deleteIfExists(logs);
            }
        }
        return 0;
    }

    /** One decoded token: a one-token query at the position after the context (the query host forgets it afterwards). */
    private static GenerationResult decode(InferenceEngine e, EncodedContext ctx, Random r, int vocab) {
        return e.generate(ctx, new int[] {3 + r.nextInt(vocab - 3)}, SamplingOptions.greedy(), 1, t -> false, t -> {});
    }

    private static void sample(Samples s, int t, InferenceEngine e, EncodedContext ctx, Random r, dev.starattn.model.DecoderConfig cfg) {
        GenerationResult g = decode(e, ctx, r, cfg.vocabSize());
        HostStats q = ctx.queryHost().stats();
        if (q.phase2Gathers != cfg.layers()) {
            throw new IllegalStateException("expected one gather per layer, counted " + q.phase2Gathers);
        }
        s.layerRoundTrip()[t] = q.phase2GatherNanos / 1e6 / q.phase2Gathers;
        s.token()[t] = g.phase2Nanos() / 1e6;
        long remote = 0;
        for (ContextHost h : ctx.hosts()) {
            if (h != ctx.queryHost()) remote = Math.max(remote, h.stats().phase2Nanos);
        }
        s.remoteCompute()[t] = remote / 1e6 / cfg.layers();
    }

    private static Row row(String name, Samples s) {
        return new Row(name, Stats.median(s.layerRoundTrip()), percentile(s.layerRoundTrip(), 0.1), percentile(s.layerRoundTrip(), 0.9),
                Stats.median(s.token()), Stats.median(s.remoteCompute()));
    }

    static double percentile(double[] v, double p) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
    }

    private static void print(List<Row> rows, long qBytes, long replyBytes) {
        System.out.println();
        System.out.println("| path | per-layer round trip ms (median) | p10 | p90 | decoded token ms (median) | slowest other host's attention per layer ms |");
        System.out.println("|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %.4f | %.4f | %.4f | %.2f | %.4f |%n", r.path(), r.layerRoundTripMs(),
                    r.layerRoundTripP10Ms(), r.layerRoundTripP90Ms(), r.tokenMs(), r.remoteComputePerLayerMs());
        }
        Row e = rows.getFirst();
        System.out.println();
        for (Row g : rows.subList(1, rows.size())) {
            System.out.printf(Locale.ROOT, "%s / embedded: %.2fx per layer round trip (+%.4f ms), %.2fx per decoded token%n",
                    g.path(), g.layerRoundTripMs() / e.layerRoundTripMs(), g.layerRoundTripMs() - e.layerRoundTripMs(),
                    g.tokenMs() / e.tokenMs());
        }
        System.out.printf(Locale.ROOT, "on the wire per remote host and layer: %d bytes of query out, %d bytes of partial back (payload)%n",
                qBytes, replyBytes);
    }

    private void writeJson(LoadedModel m, int n, Wire w, List<Row> rows, long qBytes, long replyBytes, EncodedContext encEmbedded,
                           EncodedContext encGrpc, List<Double> hostPhase1) throws java.io.IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.put("model", m.path().toString());
        j.put("config", m.config().toString());
        j.put("context", n);
        j.put("hosts", hosts);
        j.put("wire", w == Wire.BF16 ? "bf16" : "f32");
        j.put("processes", processes);
        j.put("tokens", tokens);
        j.put("warmup", warmup);
        j.put("threads", dev.starattn.cpu.Parallel.threads());
        j.put("query_bytes_per_host_layer", qBytes);
        j.put("partial_bytes_per_host_layer", replyBytes);
        if (rows.size() > 1) j.put("round_trip_ratio", rows.get(1).layerRoundTripMs() / rows.getFirst().layerRoundTripMs());
        ArrayNode rp = j.putArray("rpcs");
        for (String x : rpcs) rp.add(x.strip());
        j.put("phase1_embedded_ms", encEmbedded.phase1Nanos() / 1e6);
        j.put("phase1_embedded_critical_path_ms", encEmbedded.phase1CriticalPathNanos() / 1e6);
        if (encGrpc != null) j.put("phase1_grpc_end_to_end_ms", encGrpc.phase1Nanos() / 1e6);
        ArrayNode ph = j.putArray("phase1_grpc_host_ms");
        hostPhase1.forEach(ph::add);
        ArrayNode a = j.putArray("rows");
        for (Row r : rows) a.add(om.valueToTree(r));
        Files.writeString(json, om.writerWithDefaultPrettyPrinter().writeValueAsString(j));
    }
}
