package dev.starattn.cuda;

import static dev.starattn.cuda.CudaSelfCheck.printed;
import static dev.starattn.cuda.SelfCheckData.concatAll;
import static dev.starattn.cuda.SelfCheckData.range;
import static dev.starattn.cuda.SelfCheckData.rowsAt;
import static dev.starattn.cuda.StepComparison.teacherForcedLogits;

import dev.starattn.cuda.CudaSelfCheck.Result;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/** The self-check's section "ring on GPUs": ring phase 1 on GPU hosts against the CPU engine's dense run. */
final class RingGpuCheck {
    private final CudaSelfCheck check;
    private final CudaDevice dev;
    private final StepComparison vsCpu;

    RingGpuCheck(CudaSelfCheck check) {
        this.check = check;
        this.dev = check.device();
        this.vsCpu = new StepComparison(check);
    }

    /**
     * Ring phase 1 on GPUs ({@link CudaRing}), basic and zigzag: 3 ring hosts dealt over the visible GPUs (host h on
     * GPU h % G; all three on this GPU when it is alone, so that no peer copy happens; with 2+ GPUs other hosts' KV
     * blocks cross between GPUs), a context of {@code contextLen} random tokens, 9 query tokens, 8 greedy tokens, run two
     * ways: "engine" is {@code InferenceEngine} with its query host on the CPU (holding no context) and the GPU hosts
     * as the ring ({@link CudaContextHost#encode} of a ring share: what {@code generate --device cuda --attention ring} runs);
     * "GPU query host" is {@link CudaStarQuery} with the last host the query host ({@code --query-host gpu}).
     * Checks, per mode and way: every host holds its ring share ({@code RingStrategy.shares})'s positions; the hosts' keys and
     * values of the first and last layer, gathered by position, against the CPU engine's dense KV (f32, within
     * {@code tol}) and the keys against a dense forward on this GPU (the same bf16 kernels without the ring's merge,
     * within 2e-2); ring attention is exact, so phase 2 must give the CPU engine's dense results: first logits within
     * {@code tol}, the later steps teacher-forced with the CPU's tokens within {@code tol}, greedy tokens equal or
     * parting only at a near tie (as in {@link StarGpuChecks#starOnGpus}). With 2+ GPUs, also that bytes crossed between GPUs.
     */
    public void ringOnGpus(DecoderModel cpuModel, int contextLen, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(23);
        int[] ctx = new int[contextLen], query = new int[9];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        int newTokens = 8, hostCount = 3;
        var greedy = new SamplingOptions(0, 1, 0);
        // The CPU reference: dense (ring is exact), free-running, then each step given the CPU's own earlier tokens.
        var cpuEngine = new InferenceEngine(cpuModel, EngineOptions.of(Strategies.DENSE, 1));
        var cpuCtx = cpuEngine.encode(ctx, ProgressListener.NONE);
        LocalContextHost dense = (LocalContextHost) cpuCtx.queryHost();
        var rc = cpuEngine.generate(cpuCtx, query, greedy, newTokens, t -> false, t -> {});
        int[] ct = rc.tokens();
        float[][] cpuSteps = teacherForcedLogits(cpuEngine, cpuCtx, query, rc);
        try (GpuHosts onGpus = GpuHosts.open(dev, cpuModel, hostCount, "r")) {
            List<CudaModel> models = onGpus.models();
            List<CudaContextHost> hosts = onGpus.hosts();
            int gpus = onGpus.gpus();
            StringBuilder layout = new StringBuilder();
            for (int h = 0; h < hostCount; h++) layout.append(" r").append(h).append("@GPU").append(models.get(h % gpus).device().ordinal());
            System.out.println("ring on GPUs: " + hostCount + " hosts on " + gpus + " GPU(s):" + layout);
            // The same context densely on this GPU, one cache per layer (CudaModel.forward).
            DeviceKv[] gpuDense = models.getFirst().newCaches(ctx.length);
            try {
                models.getFirst().forward(ctx, range(0, ctx.length), 0, ctx.length, gpuDense, false);
                for (boolean zigzag : new boolean[] {false, true}) {
                    String mode = zigzag ? "ring-zigzag" : "ring";
                    EngineOptions opts = EngineOptions.of(zigzag ? Strategies.RING_ZIGZAG : Strategies.RING, hostCount + 1);
                    List<int[]> plan = (zigzag ? Strategies.RING_ZIGZAG : Strategies.RING).shares(ctx.length, hostCount);
                    // Each way on its own: a failure is reported (FAIL ... threw) and the other ways still run.
                    // (1) The engine: the query host on the CPU, the GPU hosts the ring.
                    String viaEngine = "ring on GPUs " + mode + " (engine, CPU query host)";
                    check.attempt(viaEngine, () -> {
                        long crossedBefore = crossedBytes(hosts);
                        var gpuEngine = new InferenceEngine(cpuModel, opts, hosts);
                        var enc = gpuEngine.encode(ctx, ProgressListener.NONE);
                        System.out.printf("%s: phase 1 %.1f ms;%s%n", viaEngine, enc.phase1Nanos() / 1e6, GpuHosts.summary(hosts));
                        ringKv(viaEngine, hosts, plan, dense, gpuDense, tol);
                        if (gpus > 1) {
                            long crossed = crossedBytes(hosts) - crossedBefore;
                            check.results.add(printed(Result.verdict(viaEngine + ": KV crossed between GPUs", crossed > 0, crossed + " bytes peer-copied")));
                        }
                        var rg = gpuEngine.generate(enc, query, greedy, newTokens, t -> false, t -> {});
                        float[][] gpuSteps = teacherForcedLogits(gpuEngine, enc, query, ct, rg.firstLogits());
                        vsCpu.phase2VsCpu(viaEngine, rg.tokens(), gpuSteps, ct, cpuSteps, tol);
                    });
                    // (2) The query host on a GPU (the last ring host).
                    String viaGpu = "ring on GPUs " + mode + " (GPU query host)";
                    check.attempt(viaGpu, () -> {
                        try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hostCount - 1), hosts.getLast(), true)) {
                            long wall = sq.encode(ctx, opts);
                            System.out.printf("%s: phase 1 %.1f ms;%s | %s%n", viaGpu, wall / 1e6, GpuHosts.summary(hosts), sq.layout());
                            ringKv(viaGpu, hosts, plan, dense, gpuDense, tol);
                            CudaStarQuery.Result r = sq.generate(query, newTokens, t -> false);
                            float[][] steps = teacherForcedLogits(sq, ctx.length, query, ct);
                            check.add(viaGpu + ": first logits = teacher-forced first step", steps[0], r.firstLogits(), r.firstLogits().length, 1e-6, "");
                            vsCpu.phase2VsCpu(viaGpu, r.tokens(), steps, ct, cpuSteps, tol);
                        }
                    });
                }
            } finally {
                for (DeviceKv k : gpuDense) k.close();
            }
        }
    }

    /** The ring hosts' KV after phase 1 (first and last layer, gathered by position) against dense KV: CPU (f32) and this GPU (bf16). */
    private void ringKv(String label, List<CudaContextHost> hosts, List<int[]> plan, LocalContextHost cpuDense, DeviceKv[] gpuDense, double tol) {
        int layers = gpuDense.length;
        boolean positionsOk = true;
        StringBuilder sizes = new StringBuilder();
        for (int h = 0; h < hosts.size(); h++) {
            for (int l = 0; l < layers; l++) positionsOk &= Arrays.equals(hosts.get(h).cache(l).positions(), plan.get(h));
            sizes.append(h == 0 ? "" : "+").append(hosts.get(h).kvTokens());
        }
        check.results.add(printed(Result.verdict(label + ": each host holds its ring share", positionsOk, "rows " + sizes)));
        for (int l : new int[] {0, layers - 1}) {
            List<float[]> gk = new ArrayList<>(), gv = new ArrayList<>(), ck = new ArrayList<>(), cv = new ArrayList<>(), dk = new ArrayList<>();
            float[] denseGpuKeys = gpuDense[l].keysToHost();
            int rowSize = gpuDense[l].rowSize;
            for (int h = 0; h < hosts.size(); h++) {
                DeviceKv kv = hosts.get(h).cache(l);
                gk.add(kv.keysToHost());
                gv.add(kv.valuesToHost());
                int[] p = kv.positions();
                ck.add(rowsAt(cpuDense.cache(l).keys(), p, rowSize));   // dense row r holds position r
                cv.add(rowsAt(cpuDense.cache(l).values(), p, rowSize));
                dk.add(rowsAt(denseGpuKeys, p, rowSize));
            }
            float[] g = concatAll(gk), ref = concatAll(ck);
            check.add(label + ": keys layer " + l + " vs CPU dense", g, ref, ref.length, tol, "");
            check.add(label + ": values layer " + l + " vs CPU dense", concatAll(gv), concatAll(cv), ref.length, tol, "");
            check.add(label + ": keys layer " + l + " vs GPU dense forward", g, concatAll(dk), ref.length, 2e-2, "(same bf16 kernels, no ring merge)");
        }
    }

    private static long crossedBytes(List<CudaContextHost> hosts) {
        long b = 0;
        for (CudaContextHost h : hosts) b += h.stats().phase1BytesReceived;
        return b;
    }
}
