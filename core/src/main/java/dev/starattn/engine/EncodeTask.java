package dev.starattn.engine;

import java.util.List;

/**
 * What one host encodes in phase 1, whatever the strategy: its segments ({@link BlockTask}: tokens at their
 * positions, each after a prefix whose KV is computed, attended to and discarded; an empty prefix for none), and,
 * for a ring, its place among the hosts it exchanges KV blocks with layer by layer ({@link RingLink}; null when the
 * host encodes on its own), or, for star-pass, its place among the hosts whose passing rows it takes and gives layer by
 * layer ({@link PassLink}). Hosts in other processes receive it as one {@code Encode} call.
 */
public record EncodeTask(List<BlockTask> blocks, RingLink ring, PassLink pass) {
    public EncodeTask {
        blocks = List.copyOf(blocks);
        if (ring != null && blocks.size() != 1) throw new IllegalArgumentException("a ring member encodes one share, not " + blocks.size());
        if (ring != null && pass != null) throw new IllegalArgumentException("a task is a ring share or a star-pass member, not both");
    }

    public EncodeTask(List<BlockTask> blocks, RingLink ring) {
        this(blocks, ring, null);
    }

    /** Segments encoded on their own (no exchange with other hosts). */
    public static EncodeTask of(List<BlockTask> blocks) {
        return new EncodeTask(blocks, null);
    }

    /**
     * This task as member {@code index} of {@code ring}, whose members keep keys at {@code spans} (each
     * member's {@link #keptPositionRange}, in ring order; null when unknown).
     */
    public EncodeTask inRing(String ringId, int index, List<? extends ContextHost> members, int[][] spans) {
        return new EncodeTask(blocks, new RingLink(ringId, index, List.copyOf(members), spans));
    }

    /** This task as member {@code index} of a star-pass run over {@code members} ({@link PassLink}). */
    public EncodeTask inPassRun(String runId, int index, List<? extends ContextHost> members, PassRule rule) {
        return new EncodeTask(blocks, null, new PassLink(runId, index, List.copyOf(members), rule));
    }

    /** Tokens this task leaves in the host's KV. */
    public long tokens() {
        long n = 0;
        for (BlockTask b : blocks) n += b.tokens().length;
        return n;
    }

    /**
     * The lowest and highest position of the keys this task leaves in the host's KV (its segments,
     * not their prefixes), or null when it leaves none.
     */
    public int[] keptPositionRange() {
        int lo = Integer.MAX_VALUE, hi = Integer.MIN_VALUE;
        for (BlockTask b : blocks) {
            for (int p : b.positions()) {
                lo = Math.min(lo, p);
                hi = Math.max(hi, p);
            }
        }
        return lo > hi ? null : new int[] {lo, hi};
    }

    /**
     * A ring member's place: host {@code index} of {@code members} (in ring order), exchanging its KV block of every
     * layer with the others under {@code ringId} (fresh per run, the same for every member). {@code spans} gives every
     * member's key positions {@code {min, max}} (null for a member without keys), from which each member knows how far
     * a block travels in a sliding-window layer ({@link RingReach}); null when unknown: every block goes round.
     */
    public record RingLink(String ringId, int index, List<? extends ContextHost> members, int[][] spans) {
        public RingLink(String ringId, int index, List<? extends ContextHost> members) {
            this(ringId, index, members, null);
        }
    }

    /**
     * A star-pass member's place: host {@code index} of {@code members} (in context order); at every layer it sends
     * the rows its blocks pass to every later member and takes every earlier member's, under {@code runId}.
     */
    public record PassLink(String runId, int index, List<? extends ContextHost> members, PassRule rule) {}

    /**
     * How a star-pass block chooses the rows it passes: at most {@code tokens} a layer, by the attention of its last
     * {@code window} queries, none at a position below {@code skipBelow} (the anchor holds those).
     */
    public record PassRule(int tokens, int window, int skipBelow) {
        public PassRule {
            if (tokens < 0) throw new IllegalArgumentException("--pass-tokens must be 0 or more, got " + tokens);
            if (window < 1) throw new IllegalArgumentException("the pass window must be at least 1 query, got " + window);
        }
    }
}
