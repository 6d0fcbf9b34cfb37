package dev.starattn.testutil;

import dev.starattn.model.DecoderConfig;
import java.util.Map;

/**
 * The obviously-correct forward pass, in double precision, with no tiling, chunking or caches:
 * every token attends to every token at an earlier or equal position id. Fast kernels and the
 * attention strategies are checked against it.
 */
public final class ReferenceForward {
    private final DecoderConfig c;
    private final Map<String, float[]> w;

    /** Sees every attention probability the forward computes (layer, query row, head, key row, p). */
    public interface AttentionObserver {
        void prob(int layer, int query, int head, int key, double p);
    }

    private AttentionObserver observer = (l, t, h, j, p) -> {};

    /** Reports the attention probabilities of later {@link #logits} calls to {@code o}. */
    public ReferenceForward observe(AttentionObserver o) {
        this.observer = o;
        return this;
    }

    public ReferenceForward(DecoderConfig c, Map<String, float[]> weights) {
        this.c = c;
        this.w = weights;
    }

    /** Logits [n][vocab] for tokens at the given position ids. */
    public double[][] logits(int[] tokens, int[] pos) {
        int n = tokens.length, d = c.dim(), hd = c.headDim();
        double[][] x = new double[n][d];
        float[] emb = w.get("token_embd.weight");
        for (int t = 0; t < n; t++) for (int i = 0; i < d; i++) x[t][i] = emb[tokens[t] * d + i];
        for (int l = 0; l < c.layers(); l++) {
            String p = "blk." + l + ".";
            double[][] xn = norm(x, w.get(p + "attn_norm.weight"));
            double[][] q = matmul(xn, w.get(p + "attn_q.weight"), c.qDim(), w.get(p + "attn_q.bias"));
            double[][] k = matmul(xn, w.get(p + "attn_k.weight"), c.kvDim(), w.get(p + "attn_k.bias"));
            double[][] v = matmul(xn, w.get(p + "attn_v.weight"), c.kvDim(), w.get(p + "attn_v.bias"));
            rope(q, pos, c.heads());
            rope(k, pos, c.kvHeads());
            double[][] att = new double[n][c.qDim()];
            int group = c.heads() / c.kvHeads();
            for (int t = 0; t < n; t++) {
                for (int h = 0; h < c.heads(); h++) {
                    int kvh = h / group;
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        if (pos[j] > pos[t]) {
                            s[j] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += q[t][h * hd + i] * k[j][kvh * hd + i];
                        s[j] = dot / Math.sqrt(hd);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max);
                    for (int j = 0; j < n; j++) {
                        if (s[j] == Double.NEGATIVE_INFINITY) continue;
                        double pj = Math.exp(s[j] - max) / sum;
                        observer.prob(l, t, h, j, pj);
                        for (int i = 0; i < hd; i++) att[t][h * hd + i] += pj * v[j][kvh * hd + i];
                    }
                }
            }
            double[][] o = matmul(att, w.get(p + "attn_output.weight"), d, null);
            add(x, o);
            xn = norm(x, w.get(p + "ffn_norm.weight"));
            double[][] g = matmul(xn, w.get(p + "ffn_gate.weight"), c.ffnDim(), null);
            double[][] u = matmul(xn, w.get(p + "ffn_up.weight"), c.ffnDim(), null);
            for (int t = 0; t < n; t++) for (int i = 0; i < c.ffnDim(); i++) g[t][i] = g[t][i] / (1 + Math.exp(-g[t][i])) * u[t][i];
            add(x, matmul(g, w.get(p + "ffn_down.weight"), d, null));
        }
        double[][] xn = norm(x, w.get("output_norm.weight"));
        float[] out = w.containsKey("output.weight") ? w.get("output.weight") : emb;
        return matmul(xn, out, c.vocabSize(), null);
    }

    private double[][] norm(double[][] x, float[] g) {
        double[][] o = new double[x.length][x[0].length];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) ss += v * v;
            double inv = 1 / Math.sqrt(ss / x[t].length + c.rmsEps());
            for (int i = 0; i < x[t].length; i++) o[t][i] = x[t][i] * inv * g[i];
        }
        return o;
    }

    private static double[][] matmul(double[][] x, float[] wt, int rows, float[] bias) {
        int cols = x[0].length;
        double[][] o = new double[x.length][rows];
        for (int t = 0; t < x.length; t++) {
            for (int r = 0; r < rows; r++) {
                double s = bias == null ? 0 : bias[r];
                for (int i = 0; i < cols; i++) s += wt[r * cols + i] * x[t][i];
                o[t][r] = s;
            }
        }
        return o;
    }

    private void rope(double[][] x, int[] pos, int heads) {
        int hd = c.headDim(), half = c.ropeDim() / 2;
        for (int t = 0; t < x.length; t++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < half; i++) {
                    double theta = pos[t] * Math.pow(c.ropeBase(), -2.0 * i / c.ropeDim());
                    int a = h * hd + (c.ropeNeox() ? i : 2 * i);
                    int b = h * hd + (c.ropeNeox() ? i + half : 2 * i + 1);
                    double x0 = x[t][a], x1 = x[t][b];
                    x[t][a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
                    x[t][b] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
                }
            }
        }
    }

    private static void add(double[][] x, double[][] y) {
        for (int t = 0; t < x.length; t++) for (int i = 0; i < x[t].length; i++) x[t][i] += y[t][i];
    }
}
