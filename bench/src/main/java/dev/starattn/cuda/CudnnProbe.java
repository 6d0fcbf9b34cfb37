package dev.starattn.cuda;

/**
 * cuDNN on the GPU machine, before anything relies on it. {@code --emit-c}: a C program that prints the
 * value of every cuDNN enum {@link Cudnn} uses, from the real {@code cudnn_graph.h}; {@code --values}: the
 * same lines from {@link Cudnn}'s constants (the two outputs must be equal). Without arguments: the library's
 * version, then the cuDNN attention checks of {@link KernelChecks} (cuDNN against the CPU kernel over prefill
 * shapes), and exit status 1 if one fails.
 */
public final class CudnnProbe {
    /**
     * Plan build time per new shape (graph, heuristics, finalize; the first of a topology compiles its kernel)
     * and the speed of cuDNN's forward alone (bf16 q given), Llama-3-8B's heads, random bf16 inputs drawn on the GPU.
     */
    static void builds(CudaDevice dev) {
        int hq = 32, hk = 8, hd = 128, max = 32768;
        int[][] shapes = {{1024, 1024}, {2048, 2048}, {4096, 4096}, {8192, 8192}, {16384, 16384}, {32768, 32768},
            {512, 1024}, {1024, 2048}, {4096, 8192}, {8192, 16384}};
        long q = dev.alloc(2L * max * hq * hd), k = dev.alloc(2L * max * hk * hd), v = dev.alloc(2L * max * hk * hd);
        long o = dev.alloc(2L * max * hq * hd), lse = dev.alloc(4L * max * hq);
        for (long[] b : new long[][] {{q, (long) max * hq * hd}, {k, (long) max * hk * hd}, {v, (long) max * hk * hd}}) {
            dev.launch("fill_normal_bf16", dev.gridFor(b[1], 256), 1, 1, 256, 0, b[0], b[1], b[0] & 0xffff, 1.0f);
        }
        CudnnSdpa c = dev.cudnn();
        float scale = (float) (1 / Math.sqrt(hd));
        for (int[] shape : shapes) {
            int sq = shape[0], skv = shape[1];
            long b0 = c.buildNanos;
            if (!c.forward(q, k, v, o, lse, sq, skv, hq, hk, hd, scale)) {
                System.out.println("BUILD sq=" + sq + " skv=" + skv + " refused: " + c.lastRefusal());
                continue;
            }
            double buildMs = (c.buildNanos - b0) / 1e6;
            float[] ms = new float[5];
            for (int r = 0; r < ms.length; r++) ms[r] = dev.timeMillis(() -> c.forward(q, k, v, o, lse, sq, skv, hq, hk, hd, scale));
            java.util.Arrays.sort(ms);
            double pairs = (double) sq * skv - (double) sq * (sq - 1) / 2;  // row i sees skv - sq + i + 1 keys
            System.out.printf("BUILD sq=%5d skv=%5d engine %d: plan %.0f ms, run %.3f ms, %.1f TFLOP/s%n", sq, skv,
                    c.engine(sq, skv, hq, hk, hd), buildMs, ms[2], 4.0 * hd * hq * pairs / ms[2] / 1e9);
        }
        for (long p : new long[] {q, k, v, o, lse}) dev.free(p);
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("--emit-c")) {
            StringBuilder b = new StringBuilder("#include <stdio.h>\n#include <cudnn_graph.h>\nint main(void) {\n");
            for (Object[] e : Cudnn.HEADER_NAMES) b.append("  printf(\"%s %d\\n\", \"").append(e[0]).append("\", (int) ").append(e[0]).append(");\n");
            System.out.print(b.append("  return 0;\n}\n"));
            return;
        }
        if (args.length > 0 && args[0].equals("--values")) {
            for (Object[] e : Cudnn.HEADER_NAMES) System.out.println(e[0] + " " + e[1]);
            return;
        }
        String why = CudaDevice.unavailableReason();
        if (why == null && args.length > 0 && args[0].equals("--builds")) {
            try (CudaDevice dev = CudaDevice.open(0)) {
                builds(dev);
            }
            return;
        }
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        try (CudaDevice dev = CudaDevice.open(0)) {
            long t0 = System.nanoTime();
            CudnnSdpa c = dev.cudnn();
            System.out.printf("device %s (cc %d); cuDNN %s (%s), handle in %.0f ms%n", dev.name(), dev.computeCapability(),
                    Cudnn.versionString(c.version()), NativeLibs.cudnnPath, (System.nanoTime() - t0) / 1e6);
            CudaSelfCheck s = new CudaSelfCheck(dev);
            new KernelChecks(s).attentionTensorCores(CudaAttention.TcKernel.CUDNN);
            if (args.length > 0 && java.nio.file.Files.isDirectory(java.nio.file.Path.of(args[0]))) {
                try {
                    new ModelChecks(s).huggingFace(java.nio.file.Path.of(args[0]), 5e-2);  // the engine (default kernel) against transformers
                } catch (Exception e) {
                    System.out.println("FAIL huggingface: " + e);
                }
            }
            System.out.printf("cuDNN plans built: %d, %.1f ms each on average (graph, heuristics, finalize)%n", c.built,
                    c.buildNanos / 1e6 / Math.max(1, c.built));
            long failed = s.results.stream().filter(r -> !r.ok()).count();
            System.out.println("SUMMARY " + (s.results.size() - failed) + "/" + s.results.size() + " checks passed");
            if (failed > 0) System.exit(1);
        }
    }
}
