package dev.starattn.engine;

/**
 * One context block to encode in star phase 1: its tokens and original position ids, and the
 * anchor that prefixes it (empty for the first block or with no anchor). The anchor's KV is
 * discarded after use: only the block's KV stays on the host.
 */
public record BlockTask(int index, int[] tokens, int[] positions, int[] anchorTokens, int[] anchorPositions) {
    public int start() {
        return positions.length == 0 ? 0 : positions[0];
    }
}
