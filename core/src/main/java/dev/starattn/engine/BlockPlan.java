package dev.starattn.engine;

/** Position ranges for phase-1 plans (the plans themselves are the strategies', {@code dev.starattn.engine.strategy}). */
public final class BlockPlan {
    private BlockPlan() {}

    /** The positions {@code from, from + 1, .., to - 1} (empty when {@code to <= from}). */
    public static int[] range(int from, int to) {
        int[] r = new int[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }
}
