package dev.starattn.engine;

/**
 * One segment to encode in phase 1: its tokens and original position ids, after a prefix ({@code anchorTokens} at
 * {@code anchorPositions}: star's anchor; empty for none) that is encoded with it and whose KV is then discarded:
 * only the segment's KV stays on the host.
 */
public record BlockTask(int index, int[] tokens, int[] positions, int[] anchorTokens, int[] anchorPositions) {
    private static final int[] NONE = new int[0];

    /** A segment without a prefix (dense, a ring share, a first block). */
    public static BlockTask plain(int index, int[] tokens, int[] positions) {
        return new BlockTask(index, tokens, positions, NONE, NONE);
    }

    public int start() {
        return positions.length == 0 ? 0 : positions[0];
    }
}
