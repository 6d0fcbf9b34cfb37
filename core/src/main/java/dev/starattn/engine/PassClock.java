package dev.starattn.engine;

/**
 * Star-pass's schedule when its hosts are stepped in one process (CPU hosts taking turns, GPU hosts in stages): the
 * time each host of a cluster would wait at every layer for the earlier hosts' passing rows. Each host runs on its own
 * clock (its compute time so far); host {@code h} may end a layer only once hosts {@code 0..h-1} have begun it (chosen
 * their rows), so it waits for the latest of their clocks at that point. Per layer: {@link #began} for every host,
 * then, in context order, {@link #ending} (the wait to book) and {@link #ended}.
 */
public final class PassClock {
    private final long[] clock, ready;
    private long earliestStart;

    /** A schedule for {@code hosts} hosts whose set-up took {@code setupNanos[h]} each. */
    public PassClock(long[] setupNanos) {
        clock = setupNanos.clone();
        ready = new long[clock.length];
    }

    /** Host {@code h} began the layer (chose its rows) in {@code nanos}; the first host's call starts a layer. */
    public void began(int h, long nanos) {
        if (h == 0) earliestStart = 0;
        ready[h] = clock[h] += nanos;
    }

    /** Host {@code h}, in context order, is about to end the layer: how long it waits for the earlier hosts' rows. */
    public long ending(int h) {
        long start = Math.max(clock[h], earliestStart);
        long wait = start - clock[h];
        clock[h] = start;
        return wait;
    }

    /** Host {@code h} ended the layer in {@code nanos}: its rows are ready for the hosts after it. */
    public void ended(int h, long nanos) {
        clock[h] += nanos;
        earliestStart = Math.max(earliestStart, ready[h]);
    }

    /** Host {@code h}'s clock: its compute and waits so far. */
    public long clock(int h) {
        return clock[h];
    }
}
