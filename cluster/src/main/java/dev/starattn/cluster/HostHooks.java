package dev.starattn.cluster;

import java.util.function.IntConsumer;

/** For tests: code run inside a host's calls (e.g. to stall or kill the host mid-request); {@link #NONE} otherwise. */
final class HostHooks {
    static final IntConsumer NONE = x -> {};

    /** Runs before every phase-2 call is served, with its layer. */
    volatile IntConsumer attend = NONE;
    /** Runs after each phase-1 block is encoded (with the count of blocks done); in ring phase 1, after each layer. */
    volatile IntConsumer encode = NONE;
}
