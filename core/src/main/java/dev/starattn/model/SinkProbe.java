package dev.starattn.model;

import dev.starattn.cpu.Parallel;

/**
 * Attention sinks of a model: runs a token sequence through the decoder with plain causal attention
 * (every row sees the rows at or before its position, nothing else) and records, per layer and
 * head, the softmax mass that falls on the sequence's first key and on its first {@value #FIRST}
 * keys, averaged over the query rows. A query row that sees fewer than {@value #FIRST} keys counts
 * the ones it sees. Run on a prompt that starts with BOS, the first key is BOS; run on a block
 * alone at its original positions (Star Attention's context block without the anchor), the first
 * key is the block's own first token, its would-be sink.
 *
 * <p>The attention is computed here in double from the chunk's own keys rather than by the tiled
 * kernels, because those return outputs and log-sum-exps, not the probabilities themselves.
 */
public final class SinkProbe implements LayerAttention {
    /** How many leading keys count as "the first tokens". */
    public static final int FIRST = 4;

    /** Per-layer, per-head mean mass on key 0 and on keys 0..FIRST-1. */
    public record Masses(double[][] first, double[][] firstFew, int tokens, int startPosition) {
        /** The mean over every layer and head of {@link #first}. */
        public double meanFirst() {
            return mean(first);
        }

        /** The mean over every layer and head of {@link #firstFew}. */
        public double meanFirstFew() {
            return mean(firstFew);
        }

        /** Heads whose mean mass on the first key is above {@code threshold}. */
        public int headsAbove(double threshold) {
            int c = 0;
            for (double[] row : first) for (double v : row) if (v > threshold) c++;
            return c;
        }

        /** The mass a head that spread its attention evenly over the keys it sees would put on the first key. */
        public double uniformFirst() {
            double s = 0;
            for (int i = 1; i <= tokens; i++) s += 1.0 / i;
            return s / tokens;
        }

        private static double mean(double[][] m) {
            double s = 0;
            int n = 0;
            for (double[] row : m) for (double v : row) {
                s += v;
                n++;
            }
            return n == 0 ? 0 : s / n;
        }
    }

    private final DecoderConfig config;
    private final double[][] first;
    private final double[][] firstFew;

    private SinkProbe(DecoderConfig config) {
        this.config = config;
        this.first = new double[config.layers()][config.heads()];
        this.firstFew = new double[config.layers()][config.heads()];
    }

    /**
     * The masses of {@code tokens} placed at positions {@code start, start + 1, ...}: start 0 for a
     * whole prompt, the block's own offset for a block encoded without its anchor.
     */
    public static Masses measure(DecoderModel model, int[] tokens, int start) {
        if (tokens.length == 0) throw new IllegalArgumentException("no tokens to measure attention over");
        SinkProbe probe = new SinkProbe(model.config());
        int[] pos = new int[tokens.length];
        for (int i = 0; i < pos.length; i++) pos[i] = start + i;
        model.forward(tokens, pos, 0, tokens.length, probe);
        for (int l = 0; l < probe.first.length; l++) {
            for (int h = 0; h < probe.first[l].length; h++) {
                probe.first[l][h] /= tokens.length;
                probe.firstFew[l][h] /= tokens.length;
            }
        }
        return new Masses(probe.first, probe.firstFew, tokens.length, start);
    }

    @Override
    public void attend(int layer, float[] q, float[] k, float[] v, int n, int[] pos, int posOffset, float[] out) {
        java.util.Arrays.fill(out, 0, n * config.qDim(), 0f);
        // heads write disjoint columns of out and their own entries of first/firstFew
        Parallel.forRange(config.heads(), 1, (from, to) -> {
            double[] p = new double[n];
            for (int h = from; h < to; h++) head(layer, h, q, k, v, n, pos, posOffset, out, p);
        });
    }

    private void head(int layer, int h, float[] q, float[] k, float[] v, int n, int[] pos, int posOffset, float[] out, double[] p) {
        int hd = config.headDim(), kvh = h / (config.heads() / config.kvHeads());
        int qStride = config.qDim(), kvStride = config.kvDim();
        double scale = 1.0 / Math.sqrt(hd);
        double onFirst = 0, onFew = 0;
        for (int r = 0; r < n; r++) {
            int qOff = r * qStride + h * hd;
            int qp = pos[posOffset + r];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                if (pos[posOffset + j] > qp) {
                    p[j] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                int kOff = j * kvStride + kvh * hd;
                double s = 0;
                for (int i = 0; i < hd; i++) s += (double) q[qOff + i] * k[kOff + i];
                p[j] = s * scale;
                max = Math.max(max, p[j]);
            }
            if (max == Double.NEGATIVE_INFINITY) continue;
            double sum = 0;
            for (int j = 0; j < n; j++) {
                p[j] = p[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(p[j] - max);
                sum += p[j];
            }
            for (int j = 0; j < n; j++) {
                if (p[j] == 0) continue;
                double w = p[j] / sum;
                if (j == 0) onFirst += w;
                if (j < FIRST) onFew += w;
                int vOff = j * kvStride + kvh * hd;
                for (int i = 0; i < hd; i++) out[qOff + i] += (float) (w * v[vOff + i]);
            }
        }
        first[layer][h] += onFirst;
        firstFew[layer][h] += onFew;
    }
}
