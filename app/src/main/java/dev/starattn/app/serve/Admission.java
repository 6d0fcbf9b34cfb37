package dev.starattn.app.serve;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Lock;
import java.util.function.BooleanSupplier;

/**
 * Bounds the work: {@code maxConcurrent} slots run, at most {@code queue} requests wait (for a slot,
 * or for their document, whose encoded context serves one query at a time); one more is refused
 * with 429 at once. Waiting ends at the request's deadline.
 */
final class Admission {
    private final Semaphore slots;
    private final int queueCapacity;
    private final AtomicInteger waiting = new AtomicInteger();
    private final AtomicInteger running = new AtomicInteger();

    Admission(int maxConcurrent, int queueCapacity) {
        this.slots = new Semaphore(maxConcurrent, true);
        this.queueCapacity = queueCapacity;
    }

    /** Requests waiting now (the queue depth). */
    int waiting() {
        return waiting.get();
    }

    /** Requests holding a slot now. */
    int running() {
        return running.get();
    }

    /** A held slot (and document lock, if any); closing gives both back, on the thread that took the lock. */
    final class Ticket implements AutoCloseable {
        private final Lock docLock;
        private boolean closed;

        private Ticket(Lock docLock) {
            this.docLock = docLock;
            running.incrementAndGet();
        }

        @Override
        public void close() {
            if (closed) return;
            closed = true;
            running.decrementAndGet();
            slots.release();
            if (docLock != null) docLock.unlock();
        }
    }

    /** A place in the queue (or a slot already won); {@link #await} turns it into a ticket. */
    final class Pending {
        private final Lock docLock;
        private boolean haveLock, haveSlot, queued;

        private Pending(Lock docLock) {
            this.docLock = docLock;
        }

        /** Waits until the slot (and lock) are held or the deadline ({@link System#nanoTime()}) passes. */
        Ticket await(long deadlineNanos) {
            return await(deadlineNanos, () -> false);
        }

        /**
         * As {@link #await(long)}; {@code gone} is asked every {@link #POLL_NANOS} while waiting, and
         * when it says the client has left, the place in the queue is given up at once.
         */
        Ticket await(long deadlineNanos, BooleanSupplier gone) {
            try {
                if (docLock != null && !haveLock) {
                    haveLock = poll(deadlineNanos, gone, (ns) -> docLock.tryLock(ns, TimeUnit.NANOSECONDS));
                    if (!haveLock) throw ApiError.timeout("waiting for its document");
                }
                if (!haveSlot) {
                    haveSlot = poll(deadlineNanos, gone, (ns) -> slots.tryAcquire(ns, TimeUnit.NANOSECONDS));
                    if (!haveSlot) throw ApiError.timeout("waiting in the queue");
                }
                Ticket t = new Ticket(docLock);
                haveLock = haveSlot = false; // the ticket owns them now
                return t;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw ApiError.timeout("(interrupted while queued)");
            } finally {
                abandon();
            }
        }

        /** Gives back whatever is held without running. */
        void abandon() {
            if (queued) {
                queued = false;
                waiting.decrementAndGet();
            }
            if (haveSlot) {
                haveSlot = false;
                slots.release();
            }
            if (haveLock) {
                haveLock = false;
                docLock.unlock();
            }
        }
    }

    /**
     * Takes a free slot (and {@code docLock}, may be null) at once, or a place in the queue; with
     * the queue full, answers 429 at once.
     */
    Pending admit(Lock docLock) {
        Pending p = new Pending(docLock);
        p.haveLock = docLock != null && docLock.tryLock();
        boolean lockOk = docLock == null || p.haveLock;
        if (lockOk && slots.tryAcquire()) {
            p.haveSlot = true;
            return p;
        }
        if (waiting.incrementAndGet() > queueCapacity) {
            waiting.decrementAndGet();
            p.abandon();
            throw ApiError.queueFull();
        }
        p.queued = true;
        return p;
    }

    /** {@link #admit} then {@link Pending#await}. */
    Ticket enter(Lock docLock, long deadlineNanos) {
        return admit(docLock).await(deadlineNanos);
    }

    /** How often a waiting request checks whether its client is still there. */
    static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private interface TimedTry {
        boolean tryFor(long nanos) throws InterruptedException;
    }

    private static boolean poll(long deadlineNanos, BooleanSupplier gone, TimedTry t) throws InterruptedException {
        while (true) {
            long left = remaining(deadlineNanos);
            if (t.tryFor(Math.min(left, POLL_NANOS))) return true;
            if (gone.getAsBoolean()) throw ApiError.clientGone();
            if (left <= POLL_NANOS) return false;
        }
    }

    private static long remaining(long deadlineNanos) {
        return Math.max(0, deadlineNanos - System.nanoTime());
    }
}
