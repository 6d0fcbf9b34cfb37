package dev.starattn.engine;

import dev.starattn.attention.AttentionLimits;

/**
 * How far each ring block travels in one layer. A block goes round the whole ring, except in a
 * layer with a sliding window, where it stops at the last host along the ring whose queries see some
 * of it: a block that every query further on has left behind (or that lies in their causal future)
 * would only be carried, never used. The in-process ring and the hosts of a ring over the network
 * both follow this rule, so they exchange the same blocks and merge the same partials.
 */
public final class RingReach {
    private RingReach() {}

    /**
     * @param limits the layer's attention limits
     * @param spans  each member's key positions {@code {min, max}} in ring order (null for a member without
     *               keys); null when unknown, and then every block goes round the whole ring
     * @return per member, the last step at which its block is received (1: by its successor); 0: it stays home
     */
    public static int[] of(AttentionLimits limits, int[][] spans, int members) {
        int[] reach = new int[members];
        for (int src = 0; src < members; src++) {
            for (int step = 1; step < members; step++) {
                if (limits.window() == 0 || spans == null || seen(limits, spans[src], spans[(src + step) % members])) reach[src] = step;
            }
        }
        return reach;
    }

    private static boolean seen(AttentionLimits limits, int[] keys, int[] queries) {
        return keys != null && queries != null && limits.anyVisible(queries[0], queries[1], keys[0], keys[1]);
    }
}
