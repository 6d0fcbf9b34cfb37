package dev.starattn.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.blas.NativeGemmProvider;
import dev.starattn.cpu.Parallel;
import dev.starattn.tensor.GemmBackend;
import dev.starattn.tensor.GemmBackends;
import dev.starattn.tensor.GgmlType;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The prefill matrix products alone: the Java kernel against the native GEMM (OpenBLAS sgemm,
 * weights dequantized per call, and with cached f32 copies) on one layer of a Llama shape (Q, K,
 * V, O, gate, up, down), for several token counts, in one run, calls alternating between the
 * engines. GFLOP/s are for the whole layer's products (2 x tokens x rows x cols each).
 */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "Prefill matrix products: Java kernel vs native GEMM (per call, cached), GFLOP/s per token count.")
public final class GemmBench implements Callable<Integer> {
    @Option(names = "--tokens", split = ",", defaultValue = "2048,512,128,64",
            description = "Tokens per product (rows of the activations) (default: ${DEFAULT-VALUE}).")
    List<Integer> tokens;

    @Option(names = "--dim", defaultValue = "768", description = "Model dim (default: ${DEFAULT-VALUE}, the 125M model).")
    int dim;

    @Option(names = "--kv-dim", defaultValue = "256", description = "K/V projection rows (default: ${DEFAULT-VALUE}).")
    int kvDim;

    @Option(names = "--ffn", defaultValue = "2048", description = "Feed-forward dim (default: ${DEFAULT-VALUE}).")
    int ffn;

    @Option(names = "--weights", defaultValue = "q8_0", description = "Weight type (default: ${DEFAULT-VALUE}).")
    String weights;

    @Option(names = "--repeats", defaultValue = "11", description = "Timed layers per engine and token count; medians (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--json", description = "Write the results as JSON to this file.")
    Path json;

    @Override
    public Integer call() throws Exception {
        GgmlType type = GgmlType.valueOf(weights.toUpperCase(Locale.ROOT));
        int[][] shapes = {{dim, dim}, {kvDim, dim}, {kvDim, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}};
        Random rnd = new Random(1);
        List<WeightMatrix> layer = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes) {
                float[] v = new float[s[0] * s[1]];
                for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian();
                byte[] b = Quantizers.quantize(type, v);
                MemorySegment seg = arena.allocate(b.length, 64);
                MemorySegment.copy(b, 0, seg, ValueLayout.JAVA_BYTE, 0, b.length);
                layer.add(WeightMatrices.of(type, seg.asReadOnly(), s[0], s[1]));
            }
            String javaName = GemmBackends.select("java");
            GemmBackend perCall, cached;
            try {
                perCall = NativeGemmProvider.open(0);
                cached = NativeGemmProvider.open(4L << 30);
            } catch (Exception e) {
                System.out.println("the native GEMM cannot load (" + e.getMessage() + "); nothing to compare");
                return 1;
            }
            String[] names = {"java", "native per call", "native cached"};
            double peak = KernelBench.fmaPeak();
            System.out.printf("%s layer of dim %d, kv %d, ffn %d; %d threads; fp32 FMA peak (measured) %.1f GFLOP/s%n",
                    type, dim, kvDim, ffn, Parallel.threads(), peak);
            System.out.println("java: " + javaName);
            System.out.println("native per call: " + perCall.describe());
            System.out.println("native cached: " + cached.describe());
            System.out.printf("%7s %16s %16s %16s %9s%n", "tokens", names[0], names[1], names[2], "best/java");
            ObjectNode root = new ObjectMapper().createObjectNode();
            root.put("weights", type.toString());
            root.put("threads", Parallel.threads());
            root.put("fma_peak_gflops", peak);
            ArrayNode rows = root.putArray("results");
            for (int n : tokens) {
                float[][] x = new float[shapes.length][], out = new float[shapes.length][];
                double flops = 0;
                for (int i = 0; i < shapes.length; i++) {
                    x[i] = new float[n * shapes[i][1]];
                    for (int j = 0; j < x[i].length; j++) x[i][j] = (float) rnd.nextGaussian();
                    out[i] = new float[n * shapes[i][0]];
                    flops += 2.0 * n * shapes[i][0] * shapes[i][1];
                }
                double[][] gflops = new double[3][repeats];
                for (int r = -2; r < repeats; r++) {
                    for (int e = 0; e < 3; e++) {
                        long t0 = System.nanoTime();
                        for (int i = 0; i < shapes.length; i++) {
                            WeightMatrix w = layer.get(i);
                            switch (e) {
                                case 0 -> w.matmul(x[i], out[i], n);
                                case 1 -> perCall.matmul(w, x[i], out[i], n);
                                default -> cached.matmul(w, x[i], out[i], n);
                            }
                        }
                        double s = (System.nanoTime() - t0) / 1e9;
                        if (r >= 0) gflops[e][r] = flops / s / 1e9;
                    }
                }
                double[] med = new double[3];
                for (int e = 0; e < 3; e++) med[e] = Stats.median(gflops[e]);
                System.out.printf("%7d %9.1f (%3.0f%%) %9.1f (%3.0f%%) %9.1f (%3.0f%%) %8.2fx%n", n,
                        med[0], 100 * med[0] / peak, med[1], 100 * med[1] / peak, med[2], 100 * med[2] / peak,
                        Math.max(med[1], med[2]) / med[0]);
                ObjectNode o = rows.addObject();
                o.put("tokens", n);
                for (int e = 0; e < 3; e++) {
                    o.put(names[e].replace(' ', '_') + "_gflops", med[e]);
                    ArrayNode a = o.putArray(names[e].replace(' ', '_') + "_runs");
                    for (double v : gflops[e]) a.add(v);
                }
            }
            if (json != null) Files.writeString(json, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } finally {
            GemmBackends.select("auto");
        }
        return 0;
    }
}
