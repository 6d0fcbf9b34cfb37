package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;

import dev.starattn.attention.KvCache;
import io.grpc.Status;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Ring phase 1: this host's {@link RingMailbox}es, by ring id. A predecessor's {@code PassKv} may
 * create one before the ring run starts here; the run claims it and removes it when it ends.
 */
final class RingMailboxes {
    private final Map<String, RingMailbox> mailboxes = new ConcurrentHashMap<>();
    private volatile boolean stopped;

    /** The mailbox of ring run {@code ringId}, created when none is there yet. */
    RingMailbox of(String ringId) {
        return mailboxes.computeIfAbsent(ringId, k -> new RingMailbox());
    }

    /** A block passed by the predecessor of ring run {@code ringId}; refused once the host stops. */
    void deliver(String ringId, int layer, int step, KvCache block, long bytes) {
        if (stopped) throw error(Status.UNAVAILABLE, "the host is shutting down");
        of(ringId).put(layer, step, block, bytes);
    }

    void remove(String ringId, RingMailbox box) {
        mailboxes.remove(ringId, box);
    }

    /** Drops blocks passed for a ring run that never started here (or failed before taking them), {@code ttlNanos} after they came. */
    void dropUnclaimed(long now, long ttlNanos) {
        mailboxes.entrySet().removeIf(e -> !e.getValue().owned() && now - e.getValue().created > ttlNanos);
    }

    /** The host stops: further blocks are refused and every waiting ring run fails. */
    void stop() {
        stopped = true;
        for (RingMailbox m : mailboxes.values()) m.fail("the host is shutting down");
    }
}
