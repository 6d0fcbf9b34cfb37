package dev.starattn.cuda;

import dev.starattn.model.DecoderConfig;
import java.util.Arrays;
import java.util.Random;

/**
 * Prefill speed of the GPU engine on a Llama-3.1-8B-shaped model with random bf16 weights drawn on
 * the GPU ({@link RandomWeights#model}): dense prefill of N tokens in one forward, and one star host's
 * phase 1 ([anchor; block], block = N / hosts, the block at its original positions) for each host
 * count. Median wall-clock seconds of the forward (it ends by copying the last row's logits out, so
 * the GPU is done). The PyTorch peer is cuda/gpu/prefill_bench.py, run beside it.
 *
 * <p>Usage: {@code CudaPrefillBench [lengths=16384,32768,65536] [hosts=4,8] [repeats=3]}
 */
public final class CudaPrefillBench {
    /** Llama-3.1-8B: dim 4096, 32 layers, 32/8 heads of 128, ffn 14336, vocab 128256, rope 500000 (llama3 scaling). */
    static DecoderConfig llama31_8b() {
        return llama31_8b(131072);
    }

    /**
     * The same shape with room for {@code positions}: a 128K context plus its query and answer needs a few positions
     * beyond the real model's 131072, which only the check on the context length would notice (the weights are random).
     */
    static DecoderConfig llama31_8b(int positions) {
        float[] inv = DecoderConfig.llama3ScaledInvFreq(DecoderConfig.defaultInvFreq(500000f, 128), 8, 1, 4, 8192);
        return new DecoderConfig("llama", 4096, 32, 32, 8, 128, 14336, 128256, Math.max(131072, positions), 1e-5f, 500000f, 128, true, inv,
                false, false);
    }

    public static void main(String[] args) {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        int[] lengths = ints(args.length > 0 ? args[0] : "16384,32768,65536");
        int[] hosts = ints(args.length > 1 ? args[1] : "4,8");
        int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        DecoderConfig c = llama31_8b();
        try (CudaDevice dev = CudaDevice.open(0); CudaModel m = RandomWeights.model(dev, c, 1)) {
            System.out.printf("device %s; Llama-3.1-8B shape, random bf16 weights (%.1f GiB); median of %d%n", dev.name(),
                    m.weightBytes() / 1073741824.0, repeats);
            Random rnd = new Random(2);
            for (int n : lengths) {
                int[] tokens = new int[n];
                for (int i = 0; i < n; i++) tokens[i] = rnd.nextInt(c.vocabSize());
                report("dense prefill", n, time(m, tokens, SelfCheckData.range(0, n), repeats));
                for (int h : hosts) {
                    int b = n / h;
                    int[] seq = new int[2 * b], pos = new int[2 * b];
                    for (int i = 0; i < b; i++) {
                        seq[i] = tokens[i];
                        pos[i] = i;                                     // anchor: the first block
                        seq[b + i] = tokens[(h - 1) * b + i];
                        pos[b + i] = (h - 1) * b + i;                   // the host's block where it stands
                    }
                    report("star phase 1, one host of " + h + " ([anchor; block] = " + 2 * b + ")", n, time(m, seq, pos, repeats));
                }
            }
        }
    }

    static double time(CudaModel m, int[] tokens, int[] pos, int repeats) {
        double[] s = new double[repeats];
        for (int r = -1; r < repeats; r++) {  // r = -1: warm-up (allocations, first launches)
            DeviceKv[] kv = m.newCaches(tokens.length);
            long t0 = System.nanoTime();
            m.forward(tokens, pos, 0, tokens.length, kv, true);
            if (r >= 0) s[r] = (System.nanoTime() - t0) / 1e9;
            for (DeviceKv k : kv) k.close();
        }
        Arrays.sort(s);
        return s[repeats / 2];
    }

    static void report(String what, int n, double seconds) {
        System.out.printf("PREFILL %-55s N=%6d  %7.3f s%n", what, n, seconds);
    }

    static int[] ints(String s) {
        return Arrays.stream(s.split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
