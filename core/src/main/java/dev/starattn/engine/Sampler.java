package dev.starattn.engine;

import java.util.Arrays;
import java.util.Random;

/** Picks the next token from logits: argmax, or temperature + nucleus (top-p) sampling, seeded. */
public final class Sampler {
    private final SamplingOptions options;
    private final Random random;

    public Sampler(SamplingOptions options) {
        this.options = options;
        this.random = new Random(options.seed());
    }

    public int next(float[] logits) {
        if (options.temperature() == 0f) return argmax(logits);
        int n = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            p[i] = Math.exp((logits[i] - max) / options.temperature());
            sum += p[i];
        }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        if (options.topP() < 1f) {
            Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
            double cum = 0;
            int keep = 0;
            while (keep < n) {
                cum += p[order[keep]] / sum;
                keep++;
                if (cum >= options.topP()) break;
            }
            double kept = 0;
            for (int i = 0; i < keep; i++) kept += p[order[i]];
            double r = random.nextDouble() * kept;
            for (int i = 0; i < keep; i++) {
                r -= p[order[i]];
                if (r <= 0) return order[i];
            }
            return order[keep - 1];
        }
        double r = random.nextDouble() * sum;
        for (int i = 0; i < n; i++) {
            r -= p[i];
            if (r <= 0) return i;
        }
        return argmax(logits);
    }

    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
