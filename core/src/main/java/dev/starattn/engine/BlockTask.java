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

    /** True when {@code other} has this block's anchor, the same tokens at the same positions: a host computes it once for both. */
    public boolean sameAnchor(BlockTask other) {
        return other != null && java.util.Arrays.equals(anchorTokens, other.anchorTokens)
                && java.util.Arrays.equals(anchorPositions, other.anchorPositions);
    }

    /**
     * True when the anchor holds positions {@code 0..a-1}, before every other position: causal attention then lets it
     * see nothing but itself, whatever else its block sees (star-pass's passing rows), so its KV is the same for every
     * block that has it.
     */
    public boolean anchorLeads() {
        for (int i = 0; i < anchorPositions.length; i++) if (anchorPositions[i] != i) return false;
        return true;
    }
}
