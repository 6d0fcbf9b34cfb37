package dev.starattn.engine;

import dev.starattn.cpu.Parallel;
import dev.starattn.cpu.VectorOps;
import java.util.Arrays;

/**
 * Star-pass: which rows of a block's KV its host passes to the later hosts, chosen without the query (so the
 * encoded context stays reusable across questions). SnapKV's rule: the block's last {@code window} queries attend
 * causally to the block's keys; per KV head, the attention each key receives (summed over the window and the
 * head's query group, so each head's weights sum to one) is max-pooled over {@link #POOL} neighbours, so a chosen
 * row brings its neighbours' context; a row's score is its best head's. The KV cache is token-major (a row holds
 * every head), so rows are chosen for all heads at once, by that maximum.
 */
public final class PassSelector {
    /** Neighbours on each side a pooled score reaches (SnapKV pools over a window of 7). */
    static final int POOL = 3;

    private PassSelector() {}

    /**
     * The block-local indices (ascending) of the at most {@code k} rows to pass.
     *
     * @param q        queries, {@code rows x heads x headDim}, RoPE applied; the block is rows {@code [from, from + m)}
     * @param keys     keys, {@code rows x kvHeads x headDim}, same rows
     * @param skip     block-local rows never chosen (the first rows of a first block, which every anchor already holds)
     */
    public static int[] select(float[] q, float[] keys, int from, int m, int heads, int kvHeads, int headDim, int window,
                               int k, int skip) {
        int candidates = m - Math.min(m, Math.max(0, skip));
        if (k <= 0 || candidates <= 0) return new int[0];
        if (!scores(k, candidates)) return range(m - candidates, m);
        return top(scores(q, from, keys, from, m, heads, kvHeads, headDim, Math.min(window, m)), k, skip, candidates);
    }

    /**
     * As {@link #select}, where {@code windowQ} holds only the block's last {@code min(window, m)} query rows and
     * {@code keys} only the block's {@code m} rows (a GPU host copies just those down). Neither is read when no
     * scores are needed ({@link #scores(int, int)}): they may be null then.
     */
    public static int[] selectFromWindow(float[] windowQ, float[] keys, int m, int heads, int kvHeads, int headDim, int window,
                                         int k, int skip) {
        int candidates = m - Math.min(m, Math.max(0, skip));
        if (k <= 0 || candidates <= 0) return new int[0];
        if (!scores(k, candidates)) return range(m - candidates, m);
        int w = Math.min(window, m);
        // Block row i's query is windowQ's row i - (m - w).
        return top(scores(windowQ, w - m, keys, 0, m, heads, kvHeads, headDim, w), k, skip, candidates);
    }

    /** The {@code k} best-scored of rows {@code skip..skip+candidates-1}, ascending. */
    private static int[] top(double[] score, int k, int skip, int candidates) {
        Integer[] order = new Integer[candidates];
        for (int i = 0; i < candidates; i++) order[i] = skip + i;
        // Highest score first; ties to the earlier row, so the choice is deterministic.
        Arrays.sort(order, (a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : Integer.compare(a, b));
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = order[i];
        Arrays.sort(out);
        return out;
    }

    /**
     * Every block row's score, as {@link #select} ranks them (arguments as there): a check of another implementation's
     * choice tells a near tie from a wrong row by them.
     */
    public static double[] rowScores(float[] q, float[] keys, int from, int m, int heads, int kvHeads, int headDim, int window) {
        return scores(q, from, keys, from, m, heads, kvHeads, headDim, Math.min(window, m));
    }

    /** Whether choosing {@code k} of {@code candidates} rows needs the scores (not when none or all are taken). */
    public static boolean scores(int k, int candidates) {
        return k > 0 && k < candidates;
    }

    /** Pairs of query and key the selection scores (over all query heads): its attention FLOPs are counted by them. */
    public static long pairs(int m, int heads, int window) {
        int w = Math.min(window, m);
        long p = 0;
        for (int i = m - w; i < m; i++) p += i + 1;
        return p * heads;
    }

    /** Per block row: the best KV head's pooled share of the window's attention. */
    private static double[] scores(float[] q, int qFrom, float[] keys, int kFrom, int m, int heads, int kvHeads, int headDim, int w) {
        int group = heads / kvHeads, qStride = heads * headDim, kStride = kvHeads * headDim;
        double scale = 1.0 / Math.sqrt(headDim);
        double[][] got = new double[kvHeads][m];
        // One KV head per task: each writes only its own row of got, so the sums do not depend on the threads.
        Parallel.forRange(kvHeads, 1, (g0, g1) -> {
            double[] s = new double[m];
            for (int g = g0; g < g1; g++) {
                for (int h = g * group; h < (g + 1) * group; h++) {
                    for (int i = m - w; i < m; i++) {
                        int qo = (qFrom + i) * qStride + h * headDim;
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= i; j++) {
                            s[j] = VectorOps.dot(q, qo, keys, (kFrom + j) * kStride + g * headDim, headDim) * scale;
                            max = Math.max(max, s[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - max));
                        for (int j = 0; j <= i; j++) got[g][j] += s[j] / sum;
                    }
                }
            }
        });
        double[] best = new double[m];
        for (int g = 0; g < kvHeads; g++) {
            for (int j = 0; j < m; j++) {
                double pooled = 0;
                for (int t = Math.max(0, j - POOL); t <= Math.min(m - 1, j + POOL); t++) pooled = Math.max(pooled, got[g][t]);
                best[j] = Math.max(best[j], pooled / ((double) w * group));
            }
        }
        return best;
    }

    private static int[] range(int from, int to) {
        int[] r = new int[to - from];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }
}
