package dev.starattn.app.eval;

/** The prompt tokens (context + query) the samples of one cell really had: mean, min and max. */
public record TokenLengths(double mean, int min, int max) {
    public static final TokenLengths NONE = new TokenLengths(0, 0, 0);

    /** Over a list of per-sample counts; NONE when empty. */
    public static TokenLengths of(int[] counts) {
        if (counts.length == 0) return NONE;
        long sum = 0;
        int lo = Integer.MAX_VALUE, hi = 0;
        for (int c : counts) {
            sum += c;
            lo = Math.min(lo, c);
            hi = Math.max(hi, c);
        }
        return new TokenLengths(sum / (double) counts.length, lo, hi);
    }
}
