package dev.starattn.app.serve;

/** Bytes of KV that documents and running requests may hold together. */
final class MemoryBudget {
    private final long capacity;
    private long used;

    MemoryBudget(long capacity) {
        this.capacity = capacity;
    }

    long capacity() {
        return capacity;
    }

    synchronized long used() {
        return used;
    }

    /** Reserves {@code bytes} or answers 507 (or 400 when even an empty server could not hold them). */
    synchronized void reserve(long bytes, String what) {
        if (bytes > capacity) {
            throw new ApiError(400, "invalid_request_error", "memory_budget_exceeded", what + " needs about " + bytes
                    + " bytes of KV but the server's whole memory budget is " + capacity + " bytes (--memory-budget)");
        }
        if (used + bytes > capacity) {
            throw new ApiError(507, "server_error", "memory_budget_full", what + " needs about " + bytes
                    + " bytes of KV; " + (capacity - used) + " of the " + capacity
                    + " bytes budgeted are free; delete documents or retry later");
        }
        used += bytes;
    }

    /** Swaps a reservation for the bytes actually held (may go over the budget by the estimate's error). */
    synchronized void adjust(long from, long to) {
        used += to - from;
    }

    synchronized void release(long bytes) {
        used -= bytes;
    }
}
