package dev.starattn.app.eval;

/**
 * The statistics of the eval reports: Wilson score intervals for a rate and McNemar's exact test
 * for two configurations scored on the same samples.
 */
public final class EvalStats {
    /** The normal quantile of a two-sided 95 % interval. */
    public static final double Z95 = 1.959963984540054;

    /** A closed interval of rates in [0, 1]. */
    public record Interval(double lo, double hi) {}

    private EvalStats() {}

    /**
     * The Wilson 95 % score interval for a rate {@code p} observed on {@code n} samples. Exact in
     * its assumptions for scores of 0 or 1 per sample; for partial credit (a mean of fractions) it
     * treats the mean as such a rate, which overstates the spread (fractions vary less than 0/1).
     * With no samples the interval is the whole [0, 1].
     */
    public static Interval wilson(double p, int n) {
        if (n <= 0) return new Interval(0, 1);
        double z2 = Z95 * Z95;
        double denom = 1 + z2 / n;
        double centre = (p + z2 / (2.0 * n)) / denom;
        double half = Z95 * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
        return new Interval(Math.max(0, centre - half), Math.min(1, centre + half));
    }

    /**
     * McNemar's exact test: the two-sided binomial p-value of {@code b} against {@code c}
     * discordant pairs (b: only the first configuration right, c: only the second), that is
     * min(1, 2 P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2). No discordant pair gives 1.
     * Summed in logarithms so that thousands of pairs do not underflow.
     */
    public static double mcnemarExact(int b, int c) {
        if (b < 0 || c < 0) throw new IllegalArgumentException("discordant counts must be 0 or more: " + b + ", " + c);
        int m = b + c, k = Math.min(b, c);
        if (m == 0) return 1;
        double logHalfM = -m * Math.log(2);
        double logC = 0;  // log C(m, i), built up term by term
        double max = logHalfM;
        double[] logs = new double[k + 1];
        for (int i = 0; i <= k; i++) {
            if (i > 0) logC += Math.log((m - i + 1) / (double) i);
            logs[i] = logC + logHalfM;
            max = Math.max(max, logs[i]);
        }
        double sum = 0;
        for (double l : logs) sum += Math.exp(l - max);
        double tail = Math.exp(max + Math.log(sum));
        return Math.min(1, 2 * tail);
    }
}
