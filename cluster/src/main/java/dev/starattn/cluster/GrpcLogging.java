package dev.starattn.cluster;

import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.logging.Filter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * gRPC and Netty log through java.util.logging. Two of their records are replaced by one line of
 * ours: a name that does not resolve (gRPC warns with the resolver's stack trace on every retry,
 * while the caller already reports "context host ADDRESS failed: unknown host"), and a client whose
 * TLS handshake fails on a host (gRPC logs it only at FINE, with the engine's settings and neither
 * the cause nor the peer): each TLS host in this process logs one line of its own per failure.
 */
final class GrpcLogging {
    /** Held here: java.util.logging keeps loggers weakly, and a collected logger loses its filter and level. */
    private static final Logger CHANNEL = Logger.getLogger("io.grpc.internal.ManagedChannelImpl");
    private static final Logger NEGOTIATION = Logger.getLogger("io.grpc.netty.ProtocolNegotiators");
    private static final String RESOLVE_FAILED = "Failed to resolve name";
    private static final String SERVER_TLS_FAILED = "TLS negotiation failed for new client";
    private static final Set<Runnable> TLS_FAILURE_LISTENERS = new CopyOnWriteArraySet<>();

    static {
        Filter previous = CHANNEL.getFilter();
        CHANNEL.setFilter(r -> !(r.getMessage() != null && r.getMessage().contains(RESOLVE_FAILED))
                && (previous == null || previous.isLoggable(r)));
        Level l = NEGOTIATION.getLevel();
        if (l == null || l.intValue() > Level.FINE.intValue()) NEGOTIATION.setLevel(Level.FINE);
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage() == null || !r.getMessage().startsWith(SERVER_TLS_FAILED)) return;
                for (Runnable listener : TLS_FAILURE_LISTENERS) listener.run();
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        h.setLevel(Level.FINE);
        NEGOTIATION.addHandler(h);
    }

    private GrpcLogging() {}

    /** Makes sure the filters are in place (before the first channel or server is built). */
    static void install() {
        // The static initializer does the work.
    }

    /** {@code listener} runs once per failed TLS handshake of a client with a host in this process. */
    static void onServerTlsFailure(Runnable listener) {
        TLS_FAILURE_LISTENERS.add(listener);
    }

    static void removeServerTlsListener(Runnable listener) {
        TLS_FAILURE_LISTENERS.remove(listener);
    }
}
