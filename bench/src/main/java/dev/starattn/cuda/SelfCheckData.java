package dev.starattn.cuda;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/** Random inputs, random models and array helpers of the self-check's sections (and the GPU benchmarks' inputs). */
final class SelfCheckData {
    private SelfCheckData() {}

    /** Rows {@code p[i]} of a row-major array of rows of {@code rowSize}, in the order of {@code p}. */
    static float[] rowsAt(float[] a, int[] p, int rowSize) {
        float[] r = new float[p.length * rowSize];
        for (int i = 0; i < p.length; i++) System.arraycopy(a, p[i] * rowSize, r, i * rowSize, rowSize);
        return r;
    }

    static float[] concatAll(List<float[]> parts) {
        int n = 0;
        for (float[] a : parts) n += a.length;
        float[] r = new float[n];
        int off = 0;
        for (float[] a : parts) {
            System.arraycopy(a, 0, r, off, a.length);
            off += a.length;
        }
        return r;
    }

    /** The largest logit minus the second largest. */
    static double top2Gap(float[] x) {
        float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
        for (float v : x) {
            if (v > a) {
                b = a;
                a = v;
            } else if (v > b) {
                b = v;
            }
        }
        return (double) a - b;
    }

    static int[] range(int a, int b) {
        int[] r = new int[b - a];
        for (int i = 0; i < r.length; i++) r[i] = a + i;
        return r;
    }

    static int argmax(float[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
        return b;
    }

    static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Random GGUF models (F32 weights, so only the GPU's bf16 differs), written to {@code dir}. */
    public static LoadedModel randomModel(Path dir, String arch, int dim, int layers, int heads, int kvHeads, int ffn, int vocab,
                                          GgmlType type) {
        Path p = new RandomLlamaModel().arch(arch).dim(dim).layers(layers).heads(heads).kvHeads(kvHeads).ffnDim(ffn).vocab(vocab)
                .contextLength(8192).weightType(type).embeddingType(type).seed(42).name(arch + "-" + dim)
                .write(dir.resolve(arch + "-" + dim + "-" + type + ".gguf"));
        return ModelLoader.load(p);
    }
}
