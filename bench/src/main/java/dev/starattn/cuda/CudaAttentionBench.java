package dev.starattn.cuda;

import dev.starattn.config.Switches;
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
                String only = Switches.benchKernels();  // e.g. CUDNN,WGMMA_X2 (F32 for the f32 kernel)
                if (only != null) {
                    java.util.Set<String> keep = java.util.Set.of(only.toUpperCase(java.util.Locale.ROOT).split(","));
                    variants.removeIf(x -> !keep.contains(x == null ? "F32" : x.name()));
                }
                // The same random inputs for every kernel (drawn once: 134M normals for q at 32K take seconds).
                float[] k = SelfCheckData.randn(rnd, n * kvHeads * hd), v = SelfCheckData.randn(rnd, n * kvHeads * hd);
                float[] qh = SelfCheckData.randn(rnd, n * heads * hd);
                for (CudaAttention.TcKernel variant : variants) {
                    boolean bf16 = variant != null;
                    if (!bf16 && n != lengths[0]) continue;
                    CudaAttention att = bf16 ? new CudaAttention(dev, variant) : new CudaAttention(dev);
                    int reps = bf16 ? repeats : 1;
                    int[] pos = SelfCheckData.range(0, n);
                    try (DeviceKv kv = new DeviceKv(dev, kvHeads, hd, n, bf16)) {
                        kv.append(k, v, n, pos, 0);
                        long dq = dev.upload(qh), dp = dev.upload(pos);
                        long out = dev.alloc(4L * n * heads * hd), lse = dev.alloc(4L * n * heads), outb = dev.alloc(2L * n * heads * hd);
                        // cuDNN goes through the prefill entry (queries = the cache's last rows, bf16 output) with q in
                        // bf16 as the model's RoPE kernel hands it over (rounded once here, outside the timing); our
                        // kernels through attend, as before.
                        boolean cudnn = variant == CudaAttention.TcKernel.CUDNN;
                        long dqb = dev.alloc(2L * n * heads * hd);
                        dev.launch("f32_to_bf16", dev.gridFor((long) n * heads * hd, 256), 1, 1, 256, 0, dq, dqb, (long) n * heads * hd);
                        Runnable call = cudnn ? () -> att.attendPrefill(dq, dqb, dp, n, heads, kv, 0, outb, lse)
                                : () -> att.attend(dq, dp, n, heads, kv, 0, n, out, lse);
                        call.run();  // warm-up (and, for cuDNN, the graph's plan)
                        dev.synchronize();
                        float[] ms = new float[reps];
                        for (int i = 0; i < reps; i++) ms[i] = dev.timeMillis(call);
                        Arrays.sort(ms);
                        float med = ms[reps / 2];
                        double flops = 4.0 * hd * heads * ((double) n * (n + 1) / 2);
                        String label = !bf16 ? "ours, f32 kernel (f32 KV)"
                                : cudnn ? (att.cudnnRuns > 0 ? "cuDNN fused (engine " + dev.cudnn().engine(n, n, heads, kvHeads, hd) + ")"
                                        : "CUDNN unusable -> " + att.tcKernel(hd))
                                : "ours, tensor cores, " + att.tcKernel(hd);
                        System.out.printf("ATTN %-40s N=%6d  %9.3f ms  %7.1f TFLOP/s%n", label, n, med, flops / med / 1e9);
                        if (cudnn && att.cudnnRuns > 0) {
                            // cuDNN's forward alone (the same bf16 q): the rest of the line above is the engine's
                            // own part (the choice of path, the host's part of a launch).
                            CudnnSdpa c = dev.cudnn();
                            float scale = (float) (1 / Math.sqrt(hd));
                            Runnable fwd = () -> c.forward(dqb, kv.k, kv.v, outb, lse, n, n, heads, kvHeads, hd, scale);
                            fwd.run();
                            float[] ms2 = new float[reps];
                            for (int i = 0; i < reps; i++) ms2[i] = dev.timeMillis(fwd);
                            Arrays.sort(ms2);
                            float med2 = ms2[reps / 2];
                            System.out.printf("ATTN %-40s N=%6d  %9.3f ms  %7.1f TFLOP/s%n", "cuDNN forward alone", n, med2,
                                    flops / med2 / 1e9);
                        }
                        for (long p : new long[] {dq, dqb, dp, out, lse, outb}) dev.free(p);
                    }
                    att.close();
                }
            }
        }
    }
}
