package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;

import dev.starattn.attention.KvCache;
import io.grpc.Deadline;
import io.grpc.Status;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;

/**
 * Ring phase 1: the KV blocks one ring run on this host receives from its predecessor, keyed by
 * (layer, step). A block may arrive before the run starts here. Waiting ends with the block, the
 * deadline, or {@link #fail} (the client cancelled, the host stops).
 */
final class RingMailbox {
    final long created = System.nanoTime();
    private final Map<Long, KvCache> blocks = new java.util.HashMap<>();
    private boolean owned;
    private String failure;
    private long bytesReceived;

    synchronized boolean owned() {
        return owned;
    }

    synchronized boolean claim() {
        if (owned) return false;
        owned = true;
        return true;
    }

    synchronized void put(int layer, int step, KvCache block, long bytes) {
        blocks.put(((long) layer << 32) | step, block);
        bytesReceived += bytes;
        notifyAll();
    }

    synchronized long bytesReceived() {
        return bytesReceived;
    }

    synchronized KvCache take(int layer, int step, Deadline deadline, String from) throws InterruptedException {
        long key = ((long) layer << 32) | step;
        while (true) {
            KvCache b = blocks.remove(key);
            if (b != null) return b;
            if (failure != null) throw new CancellationException(failure);
            long ms = deadline == null ? 1000 : deadline.timeRemaining(TimeUnit.MILLISECONDS);
            if (ms <= 0) {
                throw error(Status.DEADLINE_EXCEEDED, "no KV block of layer " + layer + " (ring step " + step
                        + ") arrived from ring peer " + from + " before the deadline");
            }
            wait(Math.max(1, Math.min(ms, 1000)));
        }
    }

    synchronized void fail(String why) {
        if (failure == null) failure = why;
        notifyAll();
    }
}
