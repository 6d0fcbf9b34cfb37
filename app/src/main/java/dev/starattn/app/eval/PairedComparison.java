package dev.starattn.app.eval;

/**
 * One configuration against dense on the samples both scored. A sample counts as right when it
 * has full credit (score 1), so partial-credit tasks (several references) are paired on their
 * all-found outcome. {@code onlyDense}: right under dense only, {@code onlyThis}: right under
 * this configuration only; McNemar's exact p is taken on these discordant pairs.
 *
 * @param pairs      samples scored under both
 * @param sameScore  samples with equal scores
 * @param sameAnswer samples with the very same prediction text
 */
public record PairedComparison(int pairs, int sameScore, int sameAnswer, int onlyDense, int onlyThis) {
    /** Whether a per-sample score is full credit. */
    public static boolean right(double score) {
        return score >= 1 - 1e-9;
    }

    /** The two-sided exact p-value of McNemar's test on the discordant pairs. */
    public double pValue() {
        return EvalStats.mcnemarExact(onlyDense, onlyThis);
    }

    /** Fraction of the pairs scored alike. */
    public double agreement() {
        return pairs == 0 ? Double.NaN : sameScore / (double) pairs;
    }
}
