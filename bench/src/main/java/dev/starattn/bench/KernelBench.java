package dev.starattn.bench;

import dev.starattn.attention.AttentionBackend;
import dev.starattn.attention.AttentionBackends;
import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.Partial;
import dev.starattn.cpu.Parallel;
import java.util.Random;
import java.util.concurrent.Callable;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The attention kernel's throughput (through {@link AttentionBackends}, as the engine calls it)
 * against this machine's measured fp32 FMA peak (a register-only vector FMA loop on every thread):
 * prefill tiles (causal, N queries over N keys) and decode (one query over N keys).
 */
@Command(name = "kernel", mixinStandardHelpOptions = true, description = "Attention kernel GFLOP/s against the measured FMA peak.")
public final class KernelBench implements Callable<Integer> {
    @Option(names = "--tokens", defaultValue = "4096", description = "Keys (and queries for prefill).")
    int tokens;

    @Option(names = "--heads", defaultValue = "12")
    int heads;

    @Option(names = "--kv-heads", defaultValue = "4")
    int kvHeads;

    @Option(names = "--head-dim", defaultValue = "64")
    int headDim;

    @Option(names = "--repeats", defaultValue = "5")
    int repeats;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Override
    public Integer call() {
        double peak = fmaPeak();
        System.out.printf("fp32 FMA peak (measured, %d threads, %d-bit vectors): %.1f GFLOP/s%n", Parallel.threads(), S.vectorBitSize(), peak);
        Random r = new Random(1);
        KvCache kv = new KvCache(kvHeads, headDim, tokens);
        float[] k = new float[tokens * kvHeads * headDim], v = new float[k.length];
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        int[] pos = new int[tokens];
        for (int i = 0; i < tokens; i++) pos[i] = i;
        kv.append(k, v, 0, tokens, pos, 0);
        float[] q = new float[tokens * heads * headDim];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        AttentionBackend att = AttentionBackends.current();
        double[] pre = new double[repeats];
        for (int rep = -1; rep < repeats; rep++) {
            long t0 = System.nanoTime();
            Partial p = att.attend(q, tokens, pos, heads, kv);
            double s = (System.nanoTime() - t0) / 1e9;
            if (rep >= 0) pre[rep] = AttentionKernel.flops(p.pairs(), 1, headDim) / s / 1e9;
        }
        int[] qPos = {tokens};
        double[] dec = new double[repeats];
        // Decode calls are short: warm up until the JIT has compiled the decode path.
        for (int w = 0; w < 500; w++) att.attend(q, 1, qPos, heads, kv);
        for (int rep = 0; rep < repeats; rep++) {
            long t0 = System.nanoTime();
            Partial p = att.attend(q, 1, qPos, heads, kv);
            double s = (System.nanoTime() - t0) / 1e9;
            if (rep >= 0) dec[rep] = AttentionKernel.flops(p.pairs(), 1, headDim) / s / 1e9;
        }
        double pm = Stats.median(pre), dm = Stats.median(dec);
        System.out.printf("attention prefill, %d causal queries x %d keys, %d heads / %d kv heads, head dim %d: %.1f GFLOP/s = %.0f%% of peak%n",
                tokens, tokens, heads, kvHeads, headDim, pm, 100 * pm / peak);
        System.out.printf("attention decode, 1 query x %d keys: %.1f GFLOP/s = %.0f%% of peak%n", tokens, dm, 100 * dm / peak);
        return 0;
    }

    /** Independent FMA chains in registers on every thread: what the vector units can do. */
    static double fmaPeak() {
        double[] best = new double[1];
        for (int rep = 0; rep < 5; rep++) {
            long iters = 20_000_000;
            long t0 = System.nanoTime();
            float[] sink = new float[Parallel.threads() * 4];
            Parallel.forRange(Parallel.threads(), 1, (from, to) -> {
                for (int t = from; t < to; t++) {
                    FloatVector a0 = FloatVector.broadcast(S, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
                    FloatVector a8 = a0, a9 = a0, a10 = a0, a11 = a0;
                    FloatVector m = FloatVector.broadcast(S, 0.999999f), c = FloatVector.broadcast(S, 1e-7f);
                    for (long i = 0; i < iters; i++) {
                        a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c);
                        a4 = a4.fma(m, c); a5 = a5.fma(m, c); a6 = a6.fma(m, c); a7 = a7.fma(m, c);
                        a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
                    }
                    sink[t] = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                            .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
                }
            });
            double s = (System.nanoTime() - t0) / 1e9;
            double gflops = Parallel.threads() * iters * 12.0 * S.length() * 2 / s / 1e9;
            best[0] = Math.max(best[0], gflops);
            if (sink[0] == 42) System.out.print("");
        }
        return best[0];
    }
}
