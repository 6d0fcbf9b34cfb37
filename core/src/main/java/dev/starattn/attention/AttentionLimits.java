package dev.starattn.attention;

/**
 * What bounds a layer's attention beyond causality: a sliding window (a query at position p sees
 * keys at positions (p - window, p] only; 0 for none) and a tanh soft-cap on the scaled scores
 * (cap * tanh(s / cap); 0 for none), as Gemma 2 and 3 have them.
 */
public record AttentionLimits(int window, float softcap) {
    public static final AttentionLimits NONE = new AttentionLimits(0, 0);

    public AttentionLimits {
        if (window < 0) throw new IllegalArgumentException("window " + window + " is negative");
        if (!(softcap >= 0) || !Float.isFinite(softcap)) throw new IllegalArgumentException("soft-cap " + softcap + " is not a finite non-negative number");
    }

    public static AttentionLimits of(int window, float softcap) {
        return window == 0 && softcap == 0 ? NONE : new AttentionLimits(window, softcap);
    }

    public boolean none() {
        return window == 0 && softcap == 0;
    }

    /** Whether a query at {@code qPos} sees a key at {@code kPos}. */
    public boolean visible(int qPos, int kPos) {
        return kPos <= qPos && (window == 0 || kPos > qPos - window);
    }

    /**
     * Whether any query at positions [qMin, qMax] sees any key at positions [kMin, kMax]: a host or a
     * ring block for which this is false has nothing for those queries and is not asked or sent.
     */
    public boolean anyVisible(int qMin, int qMax, int kMin, int kMax) {
        if (kMin > qMax) return false;
        return window == 0 || kMax > qMin - window;
    }
}
