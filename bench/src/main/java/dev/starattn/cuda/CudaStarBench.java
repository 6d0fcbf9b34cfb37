package dev.starattn.cuda;

import dev.starattn.config.Switches;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.FlopModel;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Star attention end to end on GPUs ({@link CudaStarQuery}) on a Llama-3.1-8B-shaped model with random bf16
 * weights drawn on each GPU ({@link RandomWeights#model}, one model per GPU, the same seed, so the same weights):
 * H context hosts dealt round-robin over the GPUs (host h on GPU h % G), the last of them the query host; per
 * context length N, phase 1 (the wall time of all hosts encoding at once: hosts of one GPU in turn, GPUs at the
 * same time), then a query of Q random tokens and T greedy tokens. Blocks of N / H tokens, each after the first
 * anchored by the first block (the paper's default); each host pushes its [anchor; block] through the model in
 * one forward unless a prefill chunk is given. Median of the repeats after one warm-up run (cuDNN plans, first
 * launches). The PyTorch peer, cuda/gpu/star_reference.py, is written separately.
 *
 * <p>Ring and ring-zigzag phase 1 ({@link CudaRing}, by {@code modes}) run on the same models, hosts and context,
 * each after star for the same N and H, with the same phase 2 ({@link CudaStarQuery} over the ring hosts' caches, the
 * query host the last ring host): lines {@code RING ...} and {@code RING-ZIGZAG ...} beside {@code STAR ...}. The ring
 * pushes each host's whole share through every layer at once (no prefill chunks) and attends with our kernels, not
 * cuDNN (CudaRing's javadoc); {@code hosts=1} gives dense (star: one block, cuDNN's prefill where it pays).
 * Each mode's {@code model} line gives FlopModel's phase-1 FLOPs for the same layout; {@code cuda/gpu/scaling.sh}
 * runs every mode (star, ring, ring-zigzag, dense) over its lengths and host counts and {@code cuda/gpu/scaling_table.py} tabulates it.
 *
 * <p>Usage: {@code CudaStarBench [lengths=32768,65536] [hosts=4] [queryTokens=32] [newTokens=32] [repeats=3]
 * [gpus=0 (all visible)] [prefillChunk=0 (whole)] [modes=star (or star,ring,ring-zigzag)]}; {@code hosts} may be a
 * list (4,8). Explicit syncs around the peer copies unless {@code -Dstarattn.cuda.peerSync=false}.
 */
public final class CudaStarBench {
    public static void main(String[] args) {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        int[] lengths = CudaPrefillBench.ints(arg(args, 0, "32768,65536"));
        int[] hostCounts = CudaPrefillBench.ints(arg(args, 1, "4"));
        int queryTokens = Integer.parseInt(arg(args, 2, "32"));
        int newTokens = Integer.parseInt(arg(args, 3, "32"));
        int repeats = Integer.parseInt(arg(args, 4, "3"));
        int gpuArg = Integer.parseInt(arg(args, 5, "0"));
        int chunkArg = Integer.parseInt(arg(args, 6, "0"));
        List<AttentionStrategy> modes = new ArrayList<>();
        for (String m : arg(args, 7, "star").split(",")) {
            AttentionStrategy mode = Strategies.byName(m.strip());
            if (!mode.splitsContext()) throw new IllegalArgumentException("modes: star, ring, ring-zigzag (dense: hosts=1)");
            modes.add(mode);
        }
        int chunk = chunkArg > 0 ? chunkArg : Integer.MAX_VALUE;
        int gpus = gpuArg > 0 ? Math.min(gpuArg, CudaDevice.deviceCount()) : CudaDevice.deviceCount();
        DecoderConfig c = CudaPrefillBench.llama31_8b(java.util.Arrays.stream(lengths).max().orElse(0) + queryTokens + newTokens);
        List<CudaDevice> devs = new ArrayList<>();
        List<CudaModel> models = new ArrayList<>();
        try {
            for (int g = 0; g < gpus; g++) {
                devs.add(CudaDevice.open(g));
                models.add(RandomWeights.model(devs.get(g), c, 1));
                System.out.printf("GPU %d: %s, Llama-3.1-8B shape, random bf16 weights (%.1f GiB)%n", g, devs.get(g).name(),
                        models.get(g).weightBytes() / 1073741824.0);
            }
            System.out.printf("query %d tokens, %d greedy tokens, median of %d after a warm-up, prefill chunk %s%n", queryTokens, newTokens,
                    repeats, chunkArg > 0 ? String.valueOf(chunkArg) : "whole block");
            Random rnd = new Random(2);
            for (int hostCount : hostCounts) {
                for (int n : lengths) {
                    int[] context = new int[n], query = new int[queryTokens];
                    for (int i = 0; i < n; i++) context[i] = rnd.nextInt(c.vocabSize());
                    for (int i = 0; i < queryTokens; i++) query[i] = rnd.nextInt(c.vocabSize());
                    for (AttentionStrategy mode : modes) {
                        for (boolean graphs : GRAPHS) run(models, mode, graphs, hostCount, chunk, context, query, newTokens, repeats);
                    }
                }
            }
        } finally {
            for (CudaModel m : models) m.close();
            for (CudaDevice d : devs) d.close();
        }
    }

    /**
     * Decode with CUDA graphs (CudaStarQuery's default), and with {@code -Dstarattn.bench.graphs=both} also without them
     * (lines named ...-NOGRAPH), the same model, context and tokens, in one run.
     */
    private static final boolean[] GRAPHS = "both".equals(Switches.benchGraphs()) ? new boolean[] {false, true}
            : new boolean[] {Switches.cudaGraphs()};

    private static void run(List<CudaModel> models, AttentionStrategy mode, boolean graphs, int hostCount, int chunk, int[] context, int[] query,
                            int newTokens, int repeats) {
        int n = context.length, gpus = Math.min(models.size(), hostCount);
        EngineOptions opts = EngineOptions.of(mode, hostCount);
        String name = mode.name().toUpperCase(java.util.Locale.ROOT) + (graphs ? "" : "-NOGRAPH");
        List<CudaContextHost> hosts = new ArrayList<>();
        try {
            for (int h = 0; h < hostCount; h++) hosts.add(new CudaContextHost("h" + h + "@gpu" + (h % gpus), models.get(h % gpus), chunk));
            try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hostCount - 1), hosts.getLast())) {
                sq.graphs = graphs;
                String tag = String.format("N=%6d hosts=%d gpus=%d", n, hostCount, gpus);
                System.out.println(name + " layout " + tag + ": " + sq.layout());
                double[] phase1 = new double[repeats], ttft = new double[repeats], decode = new double[repeats], e2e = new double[repeats];
                int[] tokens = null;
                double launchesPerToken = 0;
                int replays = 0;
                double[] enqueueShare = new double[repeats];
                for (int r = -1; r < repeats; r++) {  // r = -1: warm-up
                    long p1 = sq.encode(context, opts);
                    long launched = launches(models), enqueued = enqueueNanos(models);
                    int replayed = sq.graphReplays;
                    CudaStarQuery.Result res = sq.generate(query, newTokens, t -> false);
                    launchesPerToken = (double) (launches(models) - launched) / newTokens;
                    replays = sq.graphReplays - replayed;
                    // Host time issuing launches over the whole phase 2 against its wall time (the query's step included).
                    if (r >= 0) enqueueShare[r] = (double) (enqueueNanos(models) - enqueued) / res.phase2Nanos();
                    if (r < 0) {
                        tokens = res.tokens();
                        continue;
                    }
                    phase1[r] = p1 / 1e9;
                    ttft[r] = res.ttftNanos() / 1e6;
                    decode[r] = res.decodeTokensPerSecond();
                    e2e[r] = (p1 + res.phase2Nanos()) / 1e9;
                    if (!Arrays.equals(tokens, res.tokens())) System.out.println("WARNING: greedy tokens differ between runs of " + name + " " + tag);
                }
                String p = String.format("%-" + Math.max(4, name.length()) + "s", name);  // STAR lines as before
                System.out.printf("%s phase1      %s  %8.3f s   (all hosts encoding at once)%n", p, tag, median(phase1));
                System.out.printf("%s ttft        %s  %8.1f ms  (query of %d tokens, first logits out)%n", p, tag, median(ttft), query.length);
                System.out.printf("%s decode      %s  %8.1f tok/s (%d tokens after the first; %.0f launches a token, all GPUs; %d steps "
                        + "replayed from a CUDA graph)%n", p, tag, median(decode), newTokens - 1, launchesPerToken, replays);
                System.out.printf("%s enqueue     %s  %8.0f %%    of phase 2's wall time spent issuing launches on the host%n", p, tag,
                        100 * median(enqueueShare));
                System.out.printf("%s end-to-end  %s  %8.3f s   (phase 1 + query + %d tokens)%n", p, tag, median(e2e), newTokens);
                System.out.println(p + " tokens      " + tag + "  " + Arrays.toString(Arrays.copyOf(tokens, Math.min(8, tokens.length))) + " ...");
                // The FLOP model of phase 1 (FlopModel, as the CPU benchmarks print it): hosts of one GPU run in turn, GPUs
                // at once, so the predicted wall is the busiest GPU's sum over its hosts.
                long[] perHost = FlopModel.phase1PerHost(models.getFirst().config(), n, opts);
                long[] perGpu = new long[gpus];
                for (int h = 0; h < perHost.length; h++) perGpu[h % gpus] += perHost[h];
                System.out.printf("%s model       %s  %8.1f TFLOP on the busiest GPU, %.1f TFLOP in all (FlopModel, phase 1)%n", p, tag,
                        FlopModel.max(perGpu) / 1e12, FlopModel.sum(perHost) / 1e12);
            }
        } finally {
            for (CudaContextHost h : hosts) h.close();
        }
    }

    private static String arg(String[] args, int i, String def) {
        return args.length > i && !args[i].isBlank() ? args[i] : def;
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** A per-device counter summed over the GPUs of {@code models} (each GPU once). */
    private static long overGpus(List<CudaModel> models, java.util.function.ToLongFunction<CudaDevice> counter) {
        return models.stream().map(CudaModel::device).distinct().mapToLong(counter).sum();
    }

    private static long enqueueNanos(List<CudaModel> models) {
        return overGpus(models, d -> d.enqueueNanos);
    }

    private static long launches(List<CudaModel> models) {
        return overGpus(models, d -> d.launches);
    }
}
