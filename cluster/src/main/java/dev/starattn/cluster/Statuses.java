package dev.starattn.cluster;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CancellationException;

/** How a host's failures reach its clients: the gRPC status each kind of failure is answered with. */
final class Statuses {
    private Statuses() {}

    static StatusRuntimeException error(Status s, String msg) {
        return s.withDescription(msg).asRuntimeException();
    }

    static Status toStatus(Throwable t) {
        if (t instanceof StatusRuntimeException s) return s.getStatus();
        if (t instanceof IllegalArgumentException) return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
        if (t instanceof CancellationException) return Status.CANCELLED.withDescription(t.getMessage());
        if (t instanceof OutOfMemoryError) return Status.RESOURCE_EXHAUSTED.withDescription("the host ran out of memory; give it a larger -Xmx or a smaller --memory-budget");
        return Status.INTERNAL.withDescription(t.getClass().getSimpleName() + ": " + t.getMessage()).withCause(t);
    }
}
