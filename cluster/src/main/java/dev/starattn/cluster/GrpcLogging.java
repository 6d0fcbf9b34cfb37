package dev.starattn.cluster;

import dev.starattn.format.Printable;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.function.Consumer;
import java.util.logging.Filter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * gRPC and Netty log through java.util.logging. Two of their records are replaced by one line of
 * ours: a name that does not resolve (gRPC warns with the resolver's stack trace on every retry,
 * while the caller already reports "context host ADDRESS failed: unknown host"), and a client whose
 * TLS handshake fails on a host (gRPC logs it only at FINE, with the engine's details): the host
 * logs one line per failed handshake through its own log.
 */
final class GrpcLogging {
    /** Held here: java.util.logging keeps loggers weakly, and a collected logger loses its filter and level. */
    private static final Logger CHANNEL = Logger.getLogger("io.grpc.internal.ManagedChannelImpl");
    private static final Logger NEGOTIATION = Logger.getLogger("io.grpc.netty.ProtocolNegotiators");
    private static final String RESOLVE_FAILED = "Failed to resolve name";
    private static final String SERVER_TLS_FAILED = "TLS negotiation failed for new client";
    private static final Set<Consumer<String>> TLS_SINKS = new CopyOnWriteArraySet<>();

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
                String line = "TLS handshake with a client failed: " + describe(r.getThrown());
                for (Consumer<String> sink : TLS_SINKS) sink.accept(line);
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

    /** Makes sure the filters are in place (before the first channel is built). */
    static void install() {
        // The static initializer does the work.
    }

    /** {@code sink} receives one line per failed TLS handshake of a client with a host in this process. */
    static void onServerTlsFailure(Consumer<String> sink) {
        TLS_SINKS.add(sink);
    }

    static void removeServerTlsSink(Consumer<String> sink) {
        TLS_SINKS.remove(sink);
    }

    /** One sentence for why a handshake failed. */
    static String describe(Throwable t) {
        if (t == null) return "the connection closed during the handshake";
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) root = root.getCause();
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c.getClass().getSimpleName().equals("NotSslRecordException")) {
                return "the client does not speak TLS (a plaintext client? give it --tls and --tls-ca)";
            }
            if (c == c.getCause()) break;
        }
        String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        String first = m.lines().findFirst().orElse("").strip();
        String lower = first.toLowerCase(java.util.Locale.ROOT);
        String hint = lower.contains("certificate_unknown") || lower.contains("unknown_ca") || lower.contains("bad_certificate")
                ? " (the client does not trust this host's certificate: its --tls-ca must hold the certificate or its issuer)"
                : lower.contains("empty client certificate") || lower.contains("certificate_required")
                ? " (this host requires a client certificate: the client needs --tls-cert and --tls-key signed by this host's --tls-ca)"
                : "";
        return Printable.escape(first, 300) + hint;
    }
}
