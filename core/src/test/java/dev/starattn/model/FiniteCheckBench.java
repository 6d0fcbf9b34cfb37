package dev.starattn.model;

import dev.starattn.format.gguf.GgufFile;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Cost of the load-time NaN/Inf scan of float weights (a program, not a test) on the 125M-parameter
 * bench shape (dim 768, 12 layers, 12 heads, 4 kv heads, ff 2048, vocab 32000), F32 and F16, with
 * the file in the page cache. Args (optional): {@code runs=N dir=PATH}.
 */
public final class FiniteCheckBench {
    public static void main(String[] args) throws Exception {
        int runs = 7;
        Path dir = null;
        for (String a : args) {
            if (a.startsWith("runs=")) runs = Integer.parseInt(a.substring(5));
            if (a.startsWith("dir=")) dir = Path.of(a.substring(4));
        }
        if (dir == null) dir = Files.createTempDirectory("finite-bench");
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16}) {
            Path p = dir.resolve("bench-125m-" + type + ".gguf");
            if (!Files.exists(p)) {
                new RandomLlamaModel().dim(768).layers(12).heads(12).kvHeads(4).ffnDim(2048).vocab(32000)
                        .weightType(type).write(p);
            }
            try (GgufFile f = GgufFile.open(p)) {
                long params = f.tensors().stream().mapToLong(t -> t.elements()).sum();
                double[] ms = new double[runs];
                for (int r = 0; r < runs; r++) {
                    long t0 = System.nanoTime();
                    FiniteCheck.check(f.tensors(), p.toString());
                    ms[r] = (System.nanoTime() - t0) / 1e6;
                }
                double[] sorted = ms.clone();
                Arrays.sort(sorted);
                System.out.printf("%s %.1fM params, %d MB: scan first %.1f ms, median %.1f ms, min %.1f ms (threads %d)%n", type,
                        params / 1e6, Files.size(p) >> 20, ms[0], sorted[runs / 2], sorted[0], dev.starattn.cpu.Parallel.threads());
            }
        }
    }
}
