package dev.starattn.cuda;

import dev.starattn.attention.KvCache;
import dev.starattn.attention.KvType;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EncodeTask.PassRule;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.PassHost;
import dev.starattn.engine.PassSelector;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.engine.strategy.StarPassStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.Rope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * Star-pass on GPU hosts ({@link CudaPass}) against star-pass on in-process CPU hosts, the self-check's section
 * "star-pass on GPUs": 3 hosts dealt over the visible GPUs (all on this one when it is alone), a context of random
 * tokens, star-pass's default anchor (a quarter of a block) and {@code K} passing rows a block and layer. Checks:
 * <ol>
 * <li>the rows chosen: both sides stepped layer by layer ({@link PassHost}, {@link CudaPassHost}); at layer 0 both
 * see the same embeddings, so every row chosen by one side and not the other must be a near tie on the CPU's scores
 * (within {@link #NEAR_TIE} of the K-th best score of its block: bf16 weights and activations move the scores by
 * about that much); later layers differ by the rounding carried up, so only the share of rows both chose is printed,
 * and must be at least {@link #MIN_SHARED};
 * <li>the whole run through the engine's paths: {@link CudaStarQuery} (the query host on a GPU, as {@code generate
 * --device cuda}) and {@code InferenceEngine} with GPU context hosts and the query host on the CPU ({@code
 * --query-host cpu}) against the CPU engine's star-pass: first logits and the later steps (teacher-forced) within
 * {@code tol}, greedy tokens equal or parting only at a near tie;
 * <li>the phase-1 FLOPs of every GPU host equal the CPU host's (the same rows, passing rows and scores counted);
 * <li>star-pass:0 on the GPUs against star with the same anchor on the GPUs (the same attention; only the GEMMs'
 * batching differs): first logits within 1e-2.
 * </ol>
 */
final class StarPassGpuCheck {
    /** A row chosen by one side only is a near tie when its CPU score is within this share of its block's K-th best. */
    static final double NEAR_TIE = 0.05;
    /** The least share of rows both sides chose, over every layer and host. */
    static final double MIN_SHARED = 0.75;

    private final CudaSelfCheck s;
    private final StepComparison vsCpu;

    StarPassGpuCheck(CudaSelfCheck s) {
        this.s = s;
        this.vsCpu = new StepComparison(s);
    }

    void run(DecoderModel cpuModel, int contextLen, int passTokens, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(31);
        int[] ctx = new int[contextLen], query = new int[9];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        int newTokens = 8, hostCount = 3;
        StarPassStrategy sp = Strategies.STAR_PASS.withPassTokens(passTokens);
        EngineOptions opts = new EngineOptions(sp, hostCount, 0, -1, AnchorPositions.parse("original"), AnchorContent.parse("first"),
                64, 0, KvType.F32);
        String label = "star-pass:" + passTokens + " on GPUs";
        var cpuEngine = new InferenceEngine(cpuModel, opts);
        EncodedContext cpuCtx = cpuEngine.encode(ctx, ProgressListener.NONE);
        GenerationResult rc = cpuEngine.generate(cpuCtx, query, new SamplingOptions(0, 1, 0), newTokens, t -> false, t -> {});
        int[] ct = rc.tokens();
        float[][] cpuSteps = StepComparison.teacherForcedLogits(cpuEngine, cpuCtx, query, rc);
        try (GpuHosts onGpus = GpuHosts.open(s.device(), cpuModel, hostCount, "p")) {
            List<CudaContextHost> hosts = onGpus.hosts();
            StringBuilder layout = new StringBuilder();
            for (CudaContextHost h : hosts) layout.append(" ").append(h.name()).append("@").append(h.processor());
            System.out.println(label + ": " + hostCount + " hosts on " + onGpus.gpus() + " GPU(s):" + layout);
            s.attempt(label + " (rows chosen)", () -> rowsChosen(label, cpuModel, hosts, sp, ctx, opts));
            s.attempt(label + " (GPU query host)", () -> {
                long[][] before = flops(hosts);
                try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hostCount - 1), hosts.getLast(), true)) {
                    long wall = sq.encode(ctx, opts);
                    System.out.printf("%s (GPU query host): phase 1 %.1f ms;%s%n", label, wall / 1e6, GpuHosts.summary(hosts));
                    flopsVerdict(label, cpuCtx, hosts, before);
                    CudaStarQuery.Result rg = sq.generate(query, newTokens, t -> false);
                    float[][] steps = StepComparison.teacherForcedLogits(sq, ctx.length, query, ct);
                    vsCpu.phase2VsCpu(label + " (GPU query host)", "CPU star-pass", rg.tokens(), steps, ct, cpuSteps, tol);
                }
            });
            s.attempt(label + " (engine, CPU query host)", () -> {
                var gpuEngine = new InferenceEngine(cpuModel, opts, hosts);
                EncodedContext enc = gpuEngine.encode(ctx, ProgressListener.NONE);
                GenerationResult r = gpuEngine.generate(enc, query, new SamplingOptions(0, 1, 0), newTokens, t -> false, t -> {});
                float[][] steps = StepComparison.teacherForcedLogits(gpuEngine, enc, query, r);
                vsCpu.phase2VsCpu(label + " (engine, CPU query host)", "CPU star-pass", r.tokens(), steps, ct, cpuSteps, tol);
            });
            s.attempt("star-pass:0 on GPUs = star on GPUs", () -> {
                EngineOptions none = opts.withStrategy(sp.withPassTokens(0));
                EngineOptions star = opts.withStrategy(Strategies.STAR).withAnchorSize(none.effectiveAnchorSize(ctx.length));
                float[] a = firstLogits(hosts, ctx, query, none), b = firstLogits(hosts, ctx, query, star);
                s.add("star-pass:0 on GPUs: first logits vs star on GPUs, same anchor", a, b, b.length, 1e-2,
                        "argmax star-pass:0=" + SelfCheckData.argmax(a) + " star=" + SelfCheckData.argmax(b));
            });
        }
    }

    /** The first logits of {@code query} on {@code ctx} encoded by {@code o} over the hosts (the last the query host). */
    private static float[] firstLogits(List<CudaContextHost> hosts, int[] ctx, int[] query, EngineOptions o) {
        try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hosts.size() - 1), hosts.getLast(), true)) {
            sq.encode(ctx, o);
            return sq.generate(query, 1, t -> false).firstLogits();
        }
    }

    /** Per host: phase-1 attention and linear FLOPs so far. */
    private static long[][] flops(List<CudaContextHost> hosts) {
        long[][] f = new long[hosts.size()][];
        for (int h = 0; h < f.length; h++) f[h] = new long[] {hosts.get(h).stats().phase1AttentionFlops, hosts.get(h).stats().phase1LinearFlops};
        return f;
    }

    private void flopsVerdict(String label, EncodedContext cpuCtx, List<CudaContextHost> hosts, long[][] before) {
        long[][] after = flops(hosts);
        StringBuilder note = new StringBuilder();
        boolean equal = cpuCtx.hosts().size() == hosts.size();
        for (int h = 0; h < hosts.size() && equal; h++) {
            HostStats cpu = cpuCtx.hosts().get(h).stats();
            long att = after[h][0] - before[h][0], lin = after[h][1] - before[h][1];
            equal = att == cpu.phase1AttentionFlops && lin == cpu.phase1LinearFlops;
            note.append(String.format(" host %d attention %d/%d linear %d/%d;", h, att, cpu.phase1AttentionFlops, lin, cpu.phase1LinearFlops));
        }
        s.results.add(CudaSelfCheck.printed(CudaSelfCheck.Result.verdict(label + ": phase-1 FLOPs per host = the CPU's", equal,
                "gpu/cpu:" + note)));
    }

    /** Both sides stepped layer by layer; the rows each host passes at each layer compared. */
    private void rowsChosen(String label, DecoderModel cpuModel, List<CudaContextHost> gpuHosts, StarPassStrategy sp, int[] ctx,
                            EngineOptions opts) {
        DecoderConfig c = cpuModel.config();
        int n = gpuHosts.size();
        List<EncodeTask> plan = sp.plan(ctx, opts);
        PassRule rule = sp.rule(ctx.length, opts);
        List<PassHost> cpu = new ArrayList<>();
        List<CudaPassHost> gpu = new ArrayList<>();
        for (CudaContextHost h : gpuHosts) h.clear();
        try {
            for (int h = 0; h < n; h++) {
                cpu.add(new PassHost(cpuModel, new LocalContextHost("cpu" + h, cpuModel, 64), plan.get(h).blocks(), rule));
                gpu.add(new CudaPassHost(gpuHosts.get(h), plan.get(h).blocks(), rule));
            }
            long shared = 0, chosen = 0;
            StringBuilder perLayer = new StringBuilder();
            for (int l = 0; l < c.layers(); l++) {
                KvCache[] cpuOwn = new KvCache[n];
                DeviceKv[] gpuOwn = new DeviceKv[n];
                int[][] cpuRows = new int[n][], gpuRows = new int[n][];
                for (int h = 0; h < n; h++) {
                    cpuOwn[h] = cpu.get(h).beginLayer(l);
                    gpuOwn[h] = gpu.get(h).beginLayer(l);
                    gpuOwn[h].dev.synchronize();
                    cpuRows[h] = cpuOwn[h].positions();
                    gpuRows[h] = gpuOwn[h].positions();
                }
                if (l == 0) layerZero(label, cpuModel, plan, rule, cpuRows, gpuRows);
                long layerShared = 0, layerChosen = 0;
                for (int h = 0; h < n; h++) {
                    layerShared += intersection(cpuRows[h], gpuRows[h]);
                    layerChosen += cpuRows[h].length;
                }
                perLayer.append(String.format(" L%d %d/%d", l, layerShared, layerChosen));
                shared += layerShared;
                chosen += layerChosen;
                KvCache earlier = null;
                for (int h = 0; h < n; h++) {
                    CudaPassHost g = gpu.get(h);
                    g.earlier().truncate(0);
                    for (int j = 0; j < h; j++) g.earlier().appendAll(gpuOwn[j]);
                    g.endLayer();
                    g.device().synchronize();
                    cpu.get(h).endLayer(earlier);
                    if (cpuOwn[h].size() > 0) {
                        if (earlier == null) earlier = cpuOwn[h].copy(cpuOwn[h].size() * (n - 1 - h));
                        else earlier.appendAll(cpuOwn[h]);
                    }
                }
            }
            double share = chosen == 0 ? 1 : (double) shared / chosen;
            s.results.add(CudaSelfCheck.printed(CudaSelfCheck.Result.verdict(label + ": rows chosen by both, all layers",
                    share >= MIN_SHARED, String.format("%.3f (at least %.2f); per layer both/CPU:%s", share, MIN_SHARED, perLayer))));
            // The KV the GPU hosts keep: every layer holds their blocks' rows, at the blocks' positions.
            boolean kept = true;
            for (int h = 0; h < n; h++) {
                int[] want = plan.get(h).blocks().stream().flatMapToInt(b -> Arrays.stream(b.positions())).toArray();
                for (int l = 0; l < c.layers(); l++) kept &= Arrays.equals(gpuHosts.get(h).cache(l).positions(), want);
            }
            s.results.add(CudaSelfCheck.printed(CudaSelfCheck.Result.verdict(label + ": each GPU host keeps its blocks' KV", kept, "")));
        } finally {
            for (CudaPassHost g : gpu) g.close();
            for (CudaContextHost h : gpuHosts) h.clear();
        }
    }

    /**
     * Layer 0: every row one side chose and the other did not is a near tie on the CPU's scores (its block's queries
     * and keys from the embeddings, as {@link PassHost} computes them).
     */
    private void layerZero(String label, DecoderModel cpuModel, List<EncodeTask> plan, PassRule rule, int[][] cpuRows, int[][] gpuRows) {
        DecoderConfig c = cpuModel.config();
        int differ = 0, ties = 0;
        double worst = 0;
        for (int h = 0; h < plan.size(); h++) {
            Set<Integer> cpuSet = new HashSet<>(), gpuSet = new HashSet<>();
            for (int p : cpuRows[h]) cpuSet.add(p);
            for (int p : gpuRows[h]) gpuSet.add(p);
            for (BlockTask b : plan.get(h).blocks()) {
                int m = b.tokens().length;
                if (m == 0) continue;
                float[] x = cpuModel.embed(b.tokens(), 0, m);
                var qkv = cpuModel.qkv(0, x, m, new Rope(c, b.positions(), 0, m));
                double[] score = PassSelector.rowScores(qkv.q(), qkv.k(), 0, m, c.heads(), c.kvHeads(), c.headDim(), rule.window());
                int skip = Math.max(0, Math.min(m, rule.skipBelow() - b.start()));
                if (!PassSelector.scores(rule.tokens(), m - skip)) continue;
                double[] sorted = Arrays.copyOfRange(score, skip, m);
                Arrays.sort(sorted);
                double kth = sorted[sorted.length - rule.tokens()];
                for (int i = skip; i < m; i++) {
                    int p = b.positions()[i];
                    if (cpuSet.contains(p) == gpuSet.contains(p)) continue;
                    differ++;
                    double off = Math.abs(score[i] - kth) / kth;
                    worst = Math.max(worst, off);
                    if (off <= NEAR_TIE) ties++;
                }
            }
        }
        s.results.add(CudaSelfCheck.printed(CudaSelfCheck.Result.verdict(label + ": layer 0 rows chosen = the CPU's up to near ties",
                ties == differ, String.format("%d row(s) chosen by one side only, %d within %.0f%% of the K-th score (worst %.2f%%)",
                        differ, ties, 100 * NEAR_TIE, 100 * worst))));
    }

    private static int intersection(int[] a, int[] b) {
        Set<Integer> set = new HashSet<>();
        for (int x : a) set.add(x);
        int n = 0;
        for (int x : b) if (set.contains(x)) n++;
        return n;
    }
}
