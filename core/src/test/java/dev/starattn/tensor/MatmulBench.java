package dev.starattn.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

/**
 * Matmul throughput per weight type and shape (a program, not a test). Args (optional):
 * {@code types=F32,Q8_0 shapes=768x2048,2048x768 batches=1,512 runs=N}.
 * Shapes are rows x cols (out features x in features).
 */
public final class MatmulBench {
    public static void main(String[] args) {
        String types = "F32,F16,BF16,Q8_0,Q4_0,Q4_K,Q6_K";
        String shapes = "768x2048,2048x768,32000x768";
        String batches = "1,512";
        int runs = 7;
        for (String a : args) {
            String[] kv = a.split("=", 2);
            switch (kv[0]) {
                case "types" -> types = kv[1];
                case "shapes" -> shapes = kv[1];
                case "batches" -> batches = kv[1];
                case "runs" -> runs = Integer.parseInt(kv[1]);
                default -> throw new IllegalArgumentException("unknown arg " + a);
            }
        }
        System.out.printf("threads=%d vector=%d bits%n", dev.starattn.cpu.Parallel.threads(),
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize());
        System.out.printf("%-6s %-11s %6s %10s %9s %8s%n", "type", "shape", "batch", "ms", "GFLOP/s", "GB/s");
        Random rnd = new Random(7);
        try (Arena arena = Arena.ofShared()) {
            for (String shape : shapes.split(",")) {
                int rows = Integer.parseInt(shape.split("x")[0]);
                int cols = Integer.parseInt(shape.split("x")[1]);
                for (String tn : types.split(",")) {
                    GgmlType type = GgmlType.valueOf(tn);
                    byte[] bytes = KernelTestBlocks.randomMatrix(type, rows, cols, rnd);
                    MemorySegment seg = arena.allocate(bytes.length, 64);
                    MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
                    WeightMatrix w = WeightMatrices.of(type, seg.asReadOnly(), rows, cols);
                    for (String bs : batches.split(",")) {
                        int batch = Integer.parseInt(bs);
                        float[] x = new float[batch * cols];
                        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                        float[] out = new float[batch * rows];
                        double flops = 2.0 * rows * cols * batch;
                        // warm-up: at least ~1.5 s or 30 calls
                        long wStart = System.nanoTime();
                        int calls = 0;
                        while (calls < 30 || System.nanoTime() - wStart < 1_500_000_000L) {
                            w.matmul(x, out, batch);
                            calls++;
                            if (calls > 3 && System.nanoTime() - wStart > 4_000_000_000L) break;
                        }
                        int inner = Math.max(1, (int) (2e8 / flops * (batch == 1 ? 1 : 1)));
                        inner = Math.min(inner, 200);
                        double[] t = new double[runs];
                        for (int r = 0; r < runs; r++) {
                            long s = System.nanoTime();
                            for (int i = 0; i < inner; i++) w.matmul(x, out, batch);
                            t[r] = (System.nanoTime() - s) / 1e9 / inner;
                        }
                        Arrays.sort(t);
                        double med = t[runs / 2];
                        String gbs = batch == 1 ? String.format("%8.1f", bytes.length / med / 1e9) : "";
                        System.out.printf("%-6s %-11s %6d %10.3f %9.1f %s%n", tn, shape, batch, med * 1e3, flops / med / 1e9, gbs);
                    }
                }
            }
        }
    }
}
