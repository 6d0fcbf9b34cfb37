package dev.starattn.cuda;

import dev.starattn.attention.KvSizes;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Issue 27: star, ring and ring-zigzag phase 1 up to a million tokens on a Llama-3.2-1B-shaped model (16 layers, dim
 * 2048, 32 heads, 8 kv heads, head dim 64, FFN 8192) with random bf16 weights, then phase 2 (a query and greedy tokens)
 * over the cache spread over the hosts. Host h runs on GPU h % G: on one GPU the hosts take turns and each is timed on
 * its own ({@code HostStats.phase1Nanos}, its GPU synchronized at the end of its work), so the slowest host is the
 * critical path that one GPU per host would wait for (communication not counted); on eight GPUs the same code runs
 * one host per GPU.
 *
 * <p>Configurations (in the order given): {@code starH} (star, H hosts, block = anchor = N / H), {@code starH-b32k}
 * (star, H hosts, the paper's fixed 32K block and anchor, blocks dealt in order), {@code ringH}, {@code zigzagH},
 * {@code dense}. Lengths run small to large and every line is printed as soon as it is measured, so a run cut short
 * keeps what it did. Before each configuration the FLOP model ({@link FlopModel}) and the rate measured so far for its
 * family (star and dense: cuDNN's prefill attention; ring: our kernels) give an estimate; a configuration whose
 * estimate exceeds the seconds left of {@code budget}, or whose memory plan exceeds the GPU's free memory, is skipped
 * with a line that says why (the memory in GiB and what for). Without a GPU it prints the plan and stops.
 *
 * <p>Usage: {@code CudaMillionBench [lengths=131072,262144,524288,1048576] [budgetSeconds=420]
 * [configs=star8-b32k,star16-b32k,star16,star8,ring8@262144,zigzag8@262144,dense@131072] [query=32] [new=32] [chunk=32768] [gpus=0: all]}.
 */
public final class CudaMillionBench {
    private static final long GIB = 1L << 30;
    /** Starting rates (FLOP/s, phase 1 in all) on an H100 before a measurement replaces them; deliberately low. */
    private static final Map<String, Double> START_RATE = Map.of("star", 250e12, "dense", 250e12, "ring", 120e12, "zigzag", 120e12);
    /** Speed-ups of star over ring the paper reports for Llama-3-8B-1048K (block 32K), as issue 27 quotes them. */
    private static final Map<Integer, String> PAPER = Map.of(262144, "10.8x", 1048576, "16.9x");

    /** One configuration: a strategy, its hosts and block size (0: N / hosts). */
    record Config(String name, AttentionStrategy strategy, int hosts, int block, int maxN) {
        String family() {
            return strategy == Strategies.STAR ? "star" : strategy == Strategies.DENSE ? "dense" : strategy == Strategies.RING_ZIGZAG ? "zigzag" : "ring";
        }

        EngineOptions options() {
            EngineOptions o = EngineOptions.of(strategy, hosts);
            return block > 0 ? o.withBlockSize(block) : o;
        }

        /** {@code starH[-b32k]}, {@code ringH}, {@code zigzagH} or {@code dense}, optionally {@code @MAXN}: run at lengths up to MAXN only. */
        static Config parse(String s) {
            String t = s.strip().toLowerCase(Locale.ROOT);
            int maxN = Integer.MAX_VALUE;
            int at = t.indexOf('@');
            if (at >= 0) {
                try {
                    maxN = Integer.parseInt(t.substring(at + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("configuration '" + s + "': after @ comes the longest context to run it at, in tokens");
                }
                t = t.substring(0, at);
            }
            String name = t;
            if (t.equals("dense")) return new Config(name, Strategies.DENSE, 1, 0, maxN);
            int block = 0;
            if (t.endsWith("-b32k")) {
                block = 32768;
                t = t.substring(0, t.length() - 5);
            }
            String[][] kinds = {{"star", "star"}, {"zigzag", "ring-zigzag"}, {"ring", "ring"}};
            for (String[] k : kinds) {
                if (t.startsWith(k[0]) && t.length() > k[0].length() && t.substring(k[0].length()).chars().allMatch(Character::isDigit)) {
                    int h = Integer.parseInt(t.substring(k[0].length()));
                    if (h < 1 || (block > 0 && !k[0].equals("star"))) break;
                    return new Config(name, Strategies.byName(k[1]), h, block, maxN);
                }
            }
            throw new IllegalArgumentException("configuration '" + s + "': use starH, starH-b32k, ringH, zigzagH or dense (H hosts, e.g. star8),"
                    + " optionally @MAXN (e.g. ring8@262144)");
        }
    }

    /** Llama-3.2-1B's shape with room for {@code positions} positions (its RoPE scaling; weights random). */
    static DecoderConfig llama32_1b(int positions) {
        float[] inv = DecoderConfig.llama3ScaledInvFreq(DecoderConfig.defaultInvFreq(500000f, 64), 32, 1, 4, 8192);
        return new DecoderConfig("llama", 2048, 16, 32, 8, 64, 8192, 128256, Math.max(131072, positions), 1e-5f, 500000f, 64, true, inv,
                false, false);
    }

    /** Tokens each host holds after phase 1 (its share), from the strategy's own plan. */
    static int[] shares(Config cfg, int n) {
        List<EncodeTask> plan = cfg.strategy().plan(new int[n], cfg.options());
        int[] s = new int[plan.size()];
        for (int h = 0; h < s.length; h++) for (BlockTask b : plan.get(h).blocks()) s[h] += b.tokens().length;
        return s;
    }

    /** The longest [anchor; block] one star host pushes through (its local caches and, unchunked, its activations). */
    static int longestSegment(Config cfg, int n) {
        int longest = 0;
        for (EncodeTask t : cfg.strategy().plan(new int[n], cfg.options())) {
            for (BlockTask b : t.blocks()) longest = Math.max(longest, b.anchorTokens().length + b.tokens().length);
        }
        return longest;
    }

    /**
     * Device bytes the busiest GPU needs for this configuration beside the weights: every host's KV share (sized
     * exactly, the query host's with room for the query and new tokens), and the transient memory of phase 1: a
     * star or dense host's local [anchor; block] caches (anchor and segment both alive) and one chunk's activations
     * (one host at a time on a GPU), or a ring's activations and attention partials of all its hosts on the GPU at
     * once ({@link CudaRing} keeps them alive through the run), with its staging copies of other GPUs' blocks. The lines
     * name each part.
     */
    static long[] memoryPlan(DecoderConfig c, Config cfg, int n, int extra, int chunk, int gpus) {
        int[] share = shares(cfg, n);
        int g = Math.min(gpus, share.length);
        long[] kv = new long[g], transientBytes = new long[g];
        for (int h = 0; h < share.length; h++) {
            int rows = share[h] + (h == share.length - 1 ? extra : 0);
            kv[h % g] += KvSizes.kvBytes(rows, c.layers(), c.kvHeads(), c.headDim(), 2) + 4L * rows * c.layers();
        }
        if (cfg.family().equals("ring") || cfg.family().equals("zigzag")) {
            for (int h = 0; h < share.length; h++) {
                long slots = Math.min(share.length, h + 1);  // basic ring: the own block and the earlier ones (zigzag: at most all)
                if (cfg.strategy() == Strategies.RING_ZIGZAG) slots = share.length;
                transientBytes[h % g] += CudaModel.Activations.bytesFor(c, share[h]) + 4L * slots * share[h] * (c.qDim() + c.heads());
                // Staging caches (one layer) for the blocks it reads from hosts on other GPUs (CudaRing's stage (p)).
                for (int j = 0; j < share.length; j++) {
                    boolean reads = cfg.strategy() == Strategies.RING_ZIGZAG ? j != h : j < h;
                    if (reads && j % g != h % g) transientBytes[h % g] += 2 * KvSizes.bytes(share[j], c.kvDim(), 2) + 4L * share[j];
                }
            }
        } else {
            int seg = cfg.family().equals("dense") ? n : longestSegment(cfg, n);
            int anchor = seg - Arrays.stream(share).max().orElse(0);
            long local = KvSizes.kvBytes(seg + Math.max(0, anchor), c.layers(), c.kvHeads(), c.headDim(), 2);
            for (int i = 0; i < g; i++) transientBytes[i] = local + CudaModel.Activations.bytesFor(c, Math.min(chunk, seg));
        }
        int busiest = 0;
        for (int i = 1; i < g; i++) if (kv[i] + transientBytes[i] > kv[busiest] + transientBytes[busiest]) busiest = i;
        return new long[] {kv[busiest], transientBytes[busiest]};
    }

    public static void main(String[] args) {
        try {
            bench(args);
        } catch (IllegalArgumentException e) {  // bad arguments (numbers, configurations): one sentence
            System.err.println("CudaMillionBench: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void bench(String[] args) {
        int[] lengths = CudaPrefillBench.ints(arg(args, 0, "131072,262144,524288,1048576"));
        double budget = Double.parseDouble(arg(args, 1, "420"));
        List<Config> configs = new ArrayList<>();
        for (String s : arg(args, 2, "star8-b32k,star16-b32k,star16,star8,ring8@262144,zigzag8@262144,dense@131072").split(",")) configs.add(Config.parse(s));
        int queryTokens = Integer.parseInt(arg(args, 3, "32"));
        int newTokens = Integer.parseInt(arg(args, 4, "32"));
        int chunk = Integer.parseInt(arg(args, 5, "32768"));
        int gpuArg = Integer.parseInt(arg(args, 6, "0"));
        int maxN = Arrays.stream(lengths).max().orElse(0);
        DecoderConfig c = llama32_1b(maxN + queryTokens + newTokens);
        System.out.printf("Llama-3.2-1B shape (16 layers, dim 2048, 32/8 heads, head dim 64, FFN 8192), random bf16 weights; query %d tokens, "
                + "%d greedy tokens; star and dense prefill chunk %d; budget %.0f s%n", queryTokens, newTokens, chunk, budget);
        printPlan(c, configs, lengths, queryTokens + newTokens, chunk, Math.max(1, gpuArg));
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        int gpus = gpuArg > 0 ? Math.min(gpuArg, CudaDevice.deviceCount()) : CudaDevice.deviceCount();
        long start = System.nanoTime();
        List<CudaDevice> devs = new ArrayList<>();
        List<CudaModel> models = new ArrayList<>();
        try {
            for (int g = 0; g < gpus; g++) {
                devs.add(CudaDevice.open(g));
                models.add(RandomWeights.model(devs.get(g), c, 1));
                long[] m = devs.get(g).memoryInfo();
                System.out.printf("GPU %d: %s, weights %.2f GiB, %.1f of %.1f GiB free%n", g, devs.get(g).name(), models.get(g).weightBytes() / (double) GIB,
                        m[0] / (double) GIB, m[1] / (double) GIB);
            }
            Map<String, Double> rate = new HashMap<>(START_RATE);
            Random rnd = new Random(2);
            int[] query = new int[queryTokens];
            for (int i = 0; i < queryTokens; i++) query[i] = rnd.nextInt(c.vocabSize());
            // Warm-up at 16K: kernels loaded, cuDNN's first plans built, CUDA graphs captured once.
            int[] warm = randomTokens(rnd, 16384, c.vocabSize());
            for (String w : new String[] {"star8", "ring8"}) run(models, Config.parse(w), warm, query, newTokens, chunk, null, null);
            System.out.printf("warm-up done at %.1f s%n", (System.nanoTime() - start) / 1e9);
            for (int n : lengths) {
                int[] context = randomTokens(rnd, n, c.vocabSize());
                Map<String, double[]> measured = new LinkedHashMap<>();  // config -> {critical s, model max FLOPs}
                for (Config cfg : configs) {
                    String tag = String.format("%-12s N=%7d hosts=%2d gpus=%d", cfg.name(), n, cfg.hosts(), Math.min(gpus, cfg.hosts()));
                    long[] perHost;
                    try {
                        perHost = FlopModel.phase1PerHost(c, n, cfg.options());
                    } catch (IllegalArgumentException e) {
                        System.out.println("MILLION-SKIP " + tag + ": " + e.getMessage());
                        continue;
                    }
                    if (n > cfg.maxN()) {  // not run at this length: its ratio extrapolated at its family's measured rate
                        measured.put(cfg.name(), new double[] {Double.NaN, FlopModel.max(perHost), FlopModel.max(perHost) / rate.get(cfg.family())});
                        continue;
                    }
                    if (cfg.block() > 0 && cfg.block() == Math.max(1, (n + cfg.hosts() - 1) / cfg.hosts())) {
                        System.out.printf("MILLION-SKIP %s: a %d-token block is N / hosts, the same run as star%d%n", tag, cfg.block(), cfg.hosts());
                        continue;
                    }
                    double est = FlopModel.sum(perHost) / rate.get(cfg.family()) / Math.min(gpus, cfg.hosts());
                    double left = budget - (System.nanoTime() - start) / 1e9;
                    long[] mem = memoryPlan(c, cfg, n, queryTokens + newTokens, chunk, gpus);
                    long free = devs.getFirst().memoryInfo()[0];
                    if (est > left) {
                        System.out.printf("MILLION-SKIP %s: estimated %.0f s (%.2f PFLOP at the %s rate so far, %.0f TFLOP/s) > %.0f s left of the budget%n",
                                tag, est, FlopModel.sum(perHost) / 1e15, cfg.family(), rate.get(cfg.family()) / 1e12, left);
                        measured.put(cfg.name(), new double[] {Double.NaN, FlopModel.max(perHost), FlopModel.max(perHost) / rate.get(cfg.family())});
                        continue;
                    }
                    if (mem[0] + mem[1] + (512L << 20) > free) {
                        System.out.printf("MILLION-SKIP %s: needs %s of GPU memory (KV of its hosts %s, phase-1 activations and local caches %s) "
                                + "but %s are free%n", tag, KvSizes.gib(mem[0] + mem[1]), KvSizes.gib(mem[0]), KvSizes.gib(mem[1]), KvSizes.gib(free));
                        measured.put(cfg.name(), new double[] {Double.NaN, FlopModel.max(perHost), FlopModel.max(perHost) / rate.get(cfg.family())});
                        continue;
                    }
                    System.out.printf("MILLION-PLAN %s: estimated %.1f s, %.2f PFLOP, memory %s (KV %s)%n", tag, est, FlopModel.sum(perHost) / 1e15,
                            KvSizes.gib(mem[0] + mem[1]), KvSizes.gib(mem[0]));
                    double[] r;
                    try {
                        r = run(models, cfg, context, query, newTokens, chunk, tag, perHost);
                    } catch (CudaException | IllegalArgumentException e) {
                        System.out.println("MILLION-FAIL " + tag + ": " + e.getMessage());
                        continue;
                    }
                    // Rate: all hosts' FLOPs over all hosts' time (what one GPU does per second for this family).
                    rate.put(cfg.family(), FlopModel.sum(perHost) / r[1]);
                    measured.put(cfg.name(), new double[] {r[0], FlopModel.max(perHost), r[0]});
                }
                printRatios(n, measured);
            }
        } finally {
            for (CudaModel m : models) m.close();
            for (CudaDevice d : devs) d.close();
        }
        System.out.printf("done at %.1f s%n", (System.nanoTime() - start) / 1e9);
    }

    /**
     * One configuration: hosts sized for their shares, phase 1 (each host's own time), phase 2. Returns {critical path
     * s, sum over hosts s}; prints the lines when {@code tag} is not null (null: a warm-up).
     */
    private static double[] run(List<CudaModel> models, Config cfg, int[] context, int[] query, int newTokens, int chunk, String tag,
                                long[] perHost) {
        int gpus = Math.min(models.size(), cfg.hosts());
        int[] share = shares(cfg, context.length);
        List<CudaContextHost> hosts = new ArrayList<>();
        try {
            for (int h = 0; h < share.length; h++) {
                CudaContextHost host = new CudaContextHost("h" + h + "@gpu" + (h % gpus), models.get(h % gpus), chunk);
                hosts.add(host);
                host.reserve(share[h] + (h == share.length - 1 ? query.length + newTokens : 0));
            }
            try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hosts.size() - 1), hosts.getLast())) {
                long[] before = hosts.stream().mapToLong(h -> h.stats().phase1Nanos).toArray();
                long wall = sq.encode(context, cfg.options());
                double[] own = new double[hosts.size()];
                for (int h = 0; h < own.length; h++) own[h] = (hosts.get(h).stats().phase1Nanos - before[h]) / 1e9;
                CudaStarQuery.Result res = sq.generate(query, newTokens, t -> false);
                int slowest = 0;
                for (int h = 1; h < own.length; h++) if (own[h] > own[slowest]) slowest = h;
                double sum = Arrays.stream(own).sum();
                if (tag != null) {
                    System.out.printf("MILLION %s: critical path %8.3f s (host %d), all hosts %8.3f s, wall %8.3f s; FLOP model: busiest host %.1f TFLOP, "
                            + "all %.1f TFLOP (%.0f TFLOP/s over all hosts)%n", tag, own[slowest], slowest, sum, wall / 1e9, FlopModel.max(perHost) / 1e12,
                            FlopModel.sum(perHost) / 1e12, FlopModel.sum(perHost) / sum / 1e12);
                    StringBuilder s = new StringBuilder();
                    for (double o : own) s.append(String.format(" %.3f", o));
                    System.out.println("MILLION-HOSTS " + tag + ": seconds by host:" + s);
                    System.out.printf("MILLION-P2 %s: ttft %.1f ms (query of %d tokens over %d tokens of KV on %d hosts), decode %.1f tok/s, "
                            + "tokens %s%n", tag, res.ttftNanos() / 1e6, query.length, context.length, hosts.size(), res.decodeTokensPerSecond(),
                            Arrays.toString(Arrays.copyOf(res.tokens(), Math.min(6, res.tokens().length))));
                }
                return new double[] {own[slowest], sum};
            }
        } finally {
            for (CudaContextHost h : hosts) h.close();
        }
    }

    /**
     * Star over ring: the ring's critical path over star's, measured, and by the FLOP model, for each star and ring pair.
     * A ring that did not run (time or memory) is given its busiest host's FLOPs at the ring rate measured so far,
     * marked "extrapolated".
     */
    private static void printRatios(int n, Map<String, double[]> m) {
        for (Map.Entry<String, double[]> s : m.entrySet()) {
            if (!s.getKey().startsWith("star") || Double.isNaN(s.getValue()[0])) continue;
            for (Map.Entry<String, double[]> r : m.entrySet()) {
                if (!r.getKey().startsWith("ring") && !r.getKey().startsWith("zigzag")) continue;
                boolean ran = !Double.isNaN(r.getValue()[0]);
                double meas = r.getValue()[2] / s.getValue()[0], model = r.getValue()[1] / s.getValue()[1];
                System.out.printf("MILLION-RATIO N=%7d %s vs %s: star %.2fx faster (%s), FLOP model %.2fx, paper %s%n", n, s.getKey(), r.getKey(), meas,
                        ran ? "measured critical paths" : String.format("%s not run: %.1f s extrapolated at its measured rate", r.getKey(), r.getValue()[2]),
                        model, PAPER.getOrDefault(n, "-"));
            }
        }
    }

    /** The plan of every length and configuration (FLOPs, shares, memory), printed before anything runs. */
    private static void printPlan(DecoderConfig c, List<Config> configs, int[] lengths, int extra, int chunk, int gpus) {
        for (int n : lengths) {
            for (Config cfg : configs) {
                if (n > cfg.maxN()) continue;
                try {
                    long[] f = FlopModel.phase1PerHost(c, n, cfg.options());
                    long[] mem = memoryPlan(c, cfg, n, extra, chunk, gpus);
                    System.out.printf("plan %-12s N=%7d: %.2f PFLOP in all, busiest host %.2f PFLOP; GPU memory %s (KV %s, phase-1 transient %s)%n",
                            cfg.name(), n, FlopModel.sum(f) / 1e15, FlopModel.max(f) / 1e15, KvSizes.gib(mem[0] + mem[1]), KvSizes.gib(mem[0]),
                            KvSizes.gib(mem[1]));
                } catch (IllegalArgumentException e) {
                    System.out.printf("plan %-12s N=%7d: %s%n", cfg.name(), n, e.getMessage());
                }
            }
        }
    }

    private static int[] randomTokens(Random rnd, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }

    private static String arg(String[] args, int i, String def) {
        return args.length > i && !args[i].isBlank() ? args[i] : def;
    }
}
