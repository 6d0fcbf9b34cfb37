package dev.starattn.attention;

import static dev.starattn.attention.AttentionKernel.BK;

import dev.starattn.cpu.Parallel;

/** The key tiles of {@link AttentionKernel}'s prefill path, transposed once per call, and the pool of their arrays. */
final class TransposedKeyTiles {
    private TransposedKeyTiles() {}

    /**
     * Every key tile of [k0, k1) transposed, per kv head: tile i of kv head g holds
     * {@code K[k0 + i*BK + j][g][d]} at {@code ((g * tiles + i) * hd + d) * BK + j}, zero-padded.
     * Done once per call, it serves every query tile and every query head of the group. The array
     * is reused call after call (a small pool): allocated per call (8 MiB a layer at 8K keys
     * of a 125M model) it lived through a whole chunk's attention, was promoted, and piled up in the
     * old generation until a full collection, which set the peak RSS of long prompts.
     */
    static float[] transposedTiles(KvCache kv, int k0, int k1) {
        int hd = kv.headDim(), g = kv.kvHeads();
        int tiles = (k1 - k0 + BK - 1) / BK;
        float[] kT = transposeBuffer(g * tiles * hd * BK);
        Parallel.forRange(g * tiles, 4, (from, to) -> {
            for (int item = from; item < to; item++) {
                int kvh = item / tiles, ti = item % tiles;
                int kb = k0 + ti * BK;
                int n = Math.min(BK, k1 - kb);
                int off = item * hd * BK;
                kv.keysTransposed(kb, n, kvh, kT, BK, off);
                if (n < BK) {
                    // The last tile's padding: a reused array holds the previous call's keys there.
                    for (int d = 0; d < hd; d++) java.util.Arrays.fill(kT, off + d * BK + n, off + d * BK + BK, 0f);
                }
            }
        });
        return kT;
    }

    /**
     * Transpose arrays of finished calls, kept for the next: at most {@link #KEEP_TRANSPOSE} of them
     * (hosts of one process attend at once), none above {@link #KEEP_TRANSPOSE_MAX} floats (256 MiB),
     * so that one huge call does not pin its array.
     */
    private static final java.util.concurrent.ConcurrentLinkedDeque<float[]> IDLE_TRANSPOSE = new java.util.concurrent.ConcurrentLinkedDeque<>();
    private static final int KEEP_TRANSPOSE = 4;
    private static final int KEEP_TRANSPOSE_MAX = 64 << 20;

    /** A transpose array of at least {@code n} floats (contents undefined), to {@link #releaseTransposeBuffer} after use. */
    private static float[] transposeBuffer(int n) {
        float[] b = IDLE_TRANSPOSE.pollFirst();
        if (b != null && b.length >= n) return b;
        // A prefill's calls grow chunk by chunk: a quarter more room serves the next few chunks too.
        return new float[(int) Math.min(Integer.MAX_VALUE - 8, n + (long) n / 4)];
    }

    static void releaseTransposeBuffer(float[] b) {
        if (b.length <= KEEP_TRANSPOSE_MAX && IDLE_TRANSPOSE.size() < KEEP_TRANSPOSE) IDLE_TRANSPOSE.offerFirst(b);
    }
}
