package dev.starattn.cuda;

import java.util.Arrays;
import java.util.Random;

/**
 * Speed of the GPU attention kernels on one causal sequence (queries = keys = N, positions 0..N-1),
 * Llama-3-8B's attention shape by default (32 query heads, 8 KV heads, head dim 128): median
 * milliseconds over GPU-event-timed repeats and TFLOP/s counting the visible pairs only,
 * 4 * hd * heads * N(N+1)/2 (what causal flash-attention benchmarks count). The PyTorch peer
 * (scaled_dot_product_attention on the same shapes) is cuda/gpu/sdpa_bench.py, run beside it.
 *
 * <p>Usage: {@code CudaAttentionBench [lengths=8192,16384,32768] [repeats=10] [heads=32] [kvHeads=8] [hd=128]}
 */
public final class CudaAttentionBench {
    public static void main(String[] args) {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        int[] lengths = CudaPrefillBench.ints(args.length > 0 ? args[0] : "8192,16384,32768");
        int repeats = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int heads = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int kvHeads = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        int hd = args.length > 4 ? Integer.parseInt(args[4]) : 128;
        try (CudaDevice dev = CudaDevice.open(0)) {
            System.out.printf("device %s; causal, heads %d/%d, head dim %d; median of %d%n", dev.name(), heads, kvHeads, hd, repeats);
            Random rnd = new Random(1);
            for (int n : lengths) {
                // Every tensor-core kernel (null: the f32 kernel, the slow baseline, measured once at
                // the shortest length only).
                java.util.List<CudaAttention.TcKernel> variants = new java.util.ArrayList<>(java.util.List.of(CudaAttention.TcKernel.values()));
                variants.add(null);
                for (CudaAttention.TcKernel variant : variants) {
                    boolean bf16 = variant != null;
                    if (!bf16 && n != lengths[0]) continue;
                    CudaAttention att = bf16 ? new CudaAttention(dev, variant) : new CudaAttention(dev);
                    int reps = bf16 ? repeats : 1;
                    float[] k = CudaSelfCheck.randn(rnd, n * kvHeads * hd), v = CudaSelfCheck.randn(rnd, n * kvHeads * hd);
                    int[] pos = CudaSelfCheck.range(0, n);
                    try (DeviceKv kv = new DeviceKv(dev, kvHeads, hd, n, bf16)) {
                        kv.append(k, v, n, pos, 0);
                        long dq = dev.upload(CudaSelfCheck.randn(rnd, n * heads * hd)), dp = dev.upload(pos);
                        long out = dev.alloc(4L * n * heads * hd), lse = dev.alloc(4L * n * heads);
                        att.attend(dq, dp, n, heads, kv, 0, n, out, lse);  // warm-up
                        dev.synchronize();
                        float[] ms = new float[reps];
                        for (int i = 0; i < reps; i++) ms[i] = dev.timeMillis(() -> att.attend(dq, dp, n, heads, kv, 0, n, out, lse));
                        Arrays.sort(ms);
                        float med = ms[reps / 2];
                        double flops = 4.0 * hd * heads * ((double) n * (n + 1) / 2);
                        System.out.printf("ATTN %-40s N=%6d  %9.3f ms  %7.1f TFLOP/s%n",
                                bf16 ? "ours, tensor cores, " + att.tcKernel(hd) : "ours, f32 kernel (f32 KV)", n, med, flops / med / 1e9);
                        for (long p : new long[] {dq, dp, out, lse}) dev.free(p);
                    }
                    att.close();
                }
            }
        }
    }
}
