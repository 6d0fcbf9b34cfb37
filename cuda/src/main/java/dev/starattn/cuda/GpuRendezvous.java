package dev.starattn.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Where the GPU hosts of one run that exchanges KV layer by layer (a ring, a star-pass run) meet: the engine calls
 * {@link CudaContextHost#encode} on every member at once, from threads of its own, as it does for hosts in other
 * processes; GPU hosts of one process pass no KV over a network, so the calls gather here under the run's id, the
 * last to arrive runs the whole run over all of them, the others wait for it, and all return (or throw) together.
 *
 * @param <T> what each member brings (its share of the work)
 */
final class GpuRendezvous<T> {
    /** How long the members of one run may take to join it (the engine starts them all at once). */
    static final long JOIN_SECONDS = 60;

    private final String what;
    private final Map<String, Gathering<T>> gathering = new ConcurrentHashMap<>();

    /** {@code what} names a run in messages ("ring", "star-pass run"). */
    GpuRendezvous(String what) {
        this.what = what;
    }

    /** The members of one run arriving through {@link #join}. */
    private static final class Gathering<T> {
        final List<T> items;
        final CountDownLatch arrived;
        final CompletableFuture<Void> done = new CompletableFuture<>();

        Gathering(int members) {
            items = new ArrayList<>(Arrays.asList(newArray(members)));
            arrived = new CountDownLatch(members);
        }

        @SuppressWarnings("unchecked")
        private static <T> T[] newArray(int n) {
            return (T[]) new Object[n];
        }
    }

    /**
     * Member {@code index} of the {@code members} of run {@code id} brings {@code item}; the last to arrive runs
     * {@code runAll} over every member's item, in member order. Returns when it is done; throws its failure, or why
     * the members did not all arrive within {@link #JOIN_SECONDS}.
     */
    void join(String id, int index, int members, T item, Consumer<List<T>> runAll) {
        Gathering<T> g = gathering.computeIfAbsent(id, k -> new Gathering<>(members));
        synchronized (g) {
            if (g.items.get(index) != null) throw new IllegalStateException(what + " " + id + ": host " + index + " joined twice");
            g.items.set(index, item);
            g.arrived.countDown();
        }
        try {
            if (!g.arrived.await(JOIN_SECONDS, TimeUnit.SECONDS)) {
                gathering.remove(id, g);
                g.done.completeExceptionally(new IllegalStateException(what + " " + id + ": only " + (members - g.arrived.getCount())
                        + " of " + members + " GPU hosts joined within " + JOIN_SECONDS + " s"));
            } else if (gathering.remove(id, g)) {  // exactly one caller runs it
                try {
                    runAll.accept(List.copyOf(g.items));
                    g.done.complete(null);
                } catch (RuntimeException | Error e) {
                    g.done.completeExceptionally(e);
                }
            }
            g.done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what + " " + id, e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error r) throw r;
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        }
    }
}
