package dev.starattn.cluster;

import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.InfoReply;
import dev.starattn.cluster.proto.InfoRequest;
import dev.starattn.model.DecoderConfig;
import io.grpc.ConnectivityState;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Connections to a set of remote context hosts: checks that each serves the same model as this
 * process (by fingerprint), health-checks them, and ties their phase-1 calls together so that one
 * host failing cancels the others' work at once.
 */
public final class Cluster implements AutoCloseable {
    /** One host's answer to a health check. */
    public record HostHealth(String address, boolean ok, String message, int sessions, long kvBytes,
                             long memoryBudget, long encodeCalls) {}

    private final ClusterOptions options;
    private final String fingerprint;
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final List<RemoteContextHost> hosts = new ArrayList<>();
    private final Map<RemoteContextHost, ManagedChannel> channelOf = new ConcurrentHashMap<>();
    private final Map<RemoteContextHost, ContextHostServiceGrpc.ContextHostServiceBlockingStub> stubOf = new ConcurrentHashMap<>();
    private final Set<Context.CancellableContext> phase1 = ConcurrentHashMap.newKeySet();
    private final Map<Context.CancellableContext, String> cancelledBecause = new ConcurrentHashMap<>();

    private Cluster(ClusterOptions options, String fingerprint) {
        this.options = options;
        this.fingerprint = fingerprint;
    }

    /**
     * Connects to {@code addresses} (host:port) and checks that each answers within the call
     * timeout and serves the same model as this process ({@link ModelIdentity}).
     */
    public static Cluster connect(List<String> addresses, dev.starattn.model.LoadedModel model, ClusterOptions options) {
        return connect(addresses, ModelIdentity.of(model), model.config(), options);
    }

    /** As above, with the model identity given ({@link ModelIdentity#of}). */
    public static Cluster connect(List<String> addresses, String fingerprint, DecoderConfig config, ClusterOptions options) {
        if (addresses.isEmpty()) throw new IllegalArgumentException("--host-addrs names no host");
        Set<String> seen = new HashSet<>();
        Cluster c = new Cluster(options, fingerprint);
        try {
            for (String a : addresses) {
                String addr = a.strip();
                if (!seen.add(addr)) throw new IllegalArgumentException("context host " + addr + " is listed twice in --host-addrs");
                c.add(addr, config);
            }
            c.checkAll();
            return c;
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private void add(String addr, DecoderConfig config) {
        GrpcLogging.install();
        int colon = addr.lastIndexOf(':');
        if (colon <= 0 || colon == addr.length() - 1) {
            throw new IllegalArgumentException("context host address '" + addr + "' is not host:port");
        }
        String host = addr.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(addr.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("context host address '" + addr + "' has no valid port");
        }
        if (port < 1 || port > 65535) throw new IllegalArgumentException("context host address '" + addr + "' has no valid port");
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port)
                .maxInboundMessageSize(HostServer.MAX_MESSAGE_BYTES)
                .keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveTimeout(10, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(false);
        if (options.usesTls()) {
            try {
                SslContextBuilder ssl = GrpcSslContexts.forClient();
                if (options.tlsCa() != null) ssl.trustManager(options.tlsCa().toFile());
                if (options.tlsCert() != null) ssl.keyManager(options.tlsCert().toFile(), options.tlsKey().toFile());
                b.sslContext(ssl.build()).useTransportSecurity();
            } catch (Exception e) {
                throw new IllegalArgumentException("cannot set up TLS for context host " + addr + ": " + e.getMessage(), e);
            }
        } else {
            b.usePlaintext();
        }
        if (options.authToken() != null) b.intercept(BearerAuth.client(options.authToken()));
        ManagedChannel ch = b.build();
        channels.add(ch);
        var stub = ContextHostServiceGrpc.newBlockingStub(ch);
        RemoteContextHost h = new RemoteContextHost(this, addr, stub, ContextHostServiceGrpc.newFutureStub(ch),
                ContextHostServiceGrpc.newStub(ch), options,
                config.heads(), config.headDim());
        hosts.add(h);
        channelOf.put(h, ch);
        stubOf.put(h, stub);
    }

    /** The hosts, in the order given: they hold the first blocks of a context, in this order. */
    public List<RemoteContextHost> hosts() {
        return List.copyOf(hosts);
    }

    public ClusterOptions options() {
        return options;
    }

    /** Health-checks every host at once; throws naming the first that fails or serves another model. */
    public void checkAll() {
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (RemoteContextHost h : hosts) fs.add(pool.submit(() -> checkHealth(h)));
            for (Future<?> f : fs) {
                try {
                    f.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException r) throw r;
                    throw new IllegalStateException(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while checking the context hosts", e);
                }
            }
        }
    }

    /** Every host's state, without throwing. */
    public List<HostHealth> health() {
        List<HostHealth> out = new ArrayList<>();
        for (RemoteContextHost h : hosts) {
            try {
                InfoReply r = info(h);
                boolean same = r.getFingerprint().equals(fingerprint);
                out.add(new HostHealth(h.address(), same, same ? "ok" : "serves another model (" + r.getModelName() + ")",
                        r.getSessions(), r.getKvBytes(), r.getMemoryBudget(), r.getEncodeCalls()));
            } catch (StatusRuntimeException e) {
                out.add(new HostHealth(h.address(), false, failure(h.address(), e, "a health check", options.callTimeout()).getMessage(),
                        0, 0, 0, 0));
            }
        }
        return out;
    }

    /**
     * Checks one host answers and serves this process's model. A channel waiting to reconnect
     * (the host was down) is woken first, so a restarted host is used at once.
     */
    void checkHealth(RemoteContextHost h) {
        InfoReply r;
        try {
            r = info(h);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED
                    && channelOf.get(h).getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
                throw new IllegalStateException("context host " + h.address() + " failed: cannot connect within the "
                        + seconds(options.callTimeout()) + " deadline (is 'starattn host' running there, with the same TLS setting?)", e);
            }
            throw failure(h.address(), e, "a health check", options.callTimeout());
        }
        checkProtocol(h.address(), r);
        if (!r.getFingerprint().equals(fingerprint)) {
            throw new IllegalStateException("context host " + h.address() + " serves a different model (" + r.getModelName()
                    + ", fingerprint " + abbrev(r.getFingerprint()) + ") than this process (fingerprint " + abbrev(fingerprint)
                    + "); start every host with the same model file");
        }
    }

    /** Refuses a host of another wire protocol (an older one sends none): its calls would fail or mean something else. */
    static void checkProtocol(String address, InfoReply r) {
        if (r.getProtocol() != HostServer.PROTOCOL) {
            throw new IllegalStateException("context host " + address + " speaks protocol "
                    + (r.getProtocol() == 0 ? "1 or older (" + r.getVersion() + ")" : String.valueOf(r.getProtocol()))
                    + " but this process speaks protocol " + HostServer.PROTOCOL + "; run the same starattn version on every host");
        }
    }

    /** True while the channel to {@code h} is in a failed state, waiting to reconnect (the host was down). */
    boolean reconnecting(RemoteContextHost h) {
        return channelOf.get(h).getState(false) == ConnectivityState.TRANSIENT_FAILURE;
    }

    /**
     * Asks the host for its state within the call deadline. The channel is connected first: a
     * refused connection or a name that does not resolve fails the call at once with that reason
     * (a call made without waiting for the channel to be ready fails as soon as the channel has
     * failed), while a host that accepts and never answers is bounded by the deadline.
     */
    private InfoReply info(RemoteContextHost h) {
        long deadline = System.nanoTime() + options.callTimeout().toNanos();
        awaitConnection(channelOf.get(h), deadline);
        long left = Math.max(1, deadline - System.nanoTime());
        return stubOf.get(h).withDeadlineAfter(left, TimeUnit.NANOSECONDS).info(InfoRequest.getDefaultInstance());
    }

    /**
     * Waits until the channel is connected, or a fresh attempt to connect has failed, or {@code deadline}.
     * A channel that failed before (the host was down, and may have restarted) is made to try again
     * at once rather than after its back-off; if it does not start trying within a second, its
     * last failure stands.
     */
    static void awaitConnection(ManagedChannel ch, long deadline) {
        ConnectivityState st = ch.getState(true);
        boolean fresh = st != ConnectivityState.TRANSIENT_FAILURE;
        if (!fresh) ch.resetConnectBackoff();
        long staleUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (st != ConnectivityState.READY && st != ConnectivityState.SHUTDOWN) {
            if (st == ConnectivityState.CONNECTING) fresh = true;
            else if (st == ConnectivityState.TRANSIENT_FAILURE && fresh) return;
            long left = Math.min(deadline, fresh ? deadline : staleUntil) - System.nanoTime();
            if (left <= 0) return;
            java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
            ch.notifyWhenStateChanged(st, changed::countDown);
            try {
                changed.await(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            st = ch.getState(true);
        }
    }

    private static String abbrev(String fp) {
        return fp.length() > 40 ? fp.substring(0, 40) : fp;
    }

    void phase1Started(Context.CancellableContext ctx) {
        phase1.add(ctx);
    }

    void phase1Ended(Context.CancellableContext ctx) {
        phase1.remove(ctx);
        cancelledBecause.remove(ctx);
    }

    /** One host's phase 1 failed: the others' phase-1 calls are cancelled (their hosts stop and free the session). */
    void phase1Failed(Context.CancellableContext failed, String message) {
        for (Context.CancellableContext c : phase1) {
            if (c != failed) cancelPhase1(c, message);
        }
    }

    /** Cancels one phase-1 call because of a failure elsewhere ({@code message}), which its caller then reports. */
    void cancelPhase1(Context.CancellableContext c, String message) {
        cancelledBecause.putIfAbsent(c, message);
        c.cancel(Status.CANCELLED.withDescription(message).asRuntimeException());
    }

    /** Why a phase-1 call was cancelled by this cluster, or null when it was not. */
    String cancellationReason(Context.CancellableContext ctx) {
        return cancelledBecause.get(ctx);
    }

    /** Turns a failed call into one sentence naming the host. */
    IllegalStateException failure(String address, StatusRuntimeException e, String during, Duration deadline) {
        Status s = e.getStatus();
        String d = s.getDescription() == null ? "" : s.getDescription();
        String msg = switch (s.getCode()) {
            case DEADLINE_EXCEEDED -> "no answer within the " + seconds(deadline) + " deadline during " + during;
            case UNAVAILABLE -> {
                String cannot = cannotConnect(e);
                yield cannot != null ? cannot : "unreachable or gone during " + during + (d.isEmpty() ? "" : " (" + d + ")");
            }
            case UNAUTHENTICATED -> "it refused the call: " + d;
            case CANCELLED -> "the call was cancelled during " + during + (d.isEmpty() ? "" : " (" + d + ")");
            case RESOURCE_EXHAUSTED, NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT, ABORTED -> d;
            default -> s.getCode() + " during " + during + (d.isEmpty() ? "" : ": " + d);
        };
        return new IllegalStateException("context host " + address + " failed: " + msg, e);
    }

    /**
     * "connection refused", "unknown host" or "cannot connect (...)" when the call failed because no
     * connection could be made; null for other failures (a connection that broke, a host that left).
     */
    static String cannotConnect(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.UnknownHostException) return "unknown host";
            if (t instanceof javax.net.ssl.SSLException ssl) {
                String m = ssl.getMessage() == null ? "" : ssl.getMessage().lines().findFirst().orElse("");
                return "TLS handshake failed" + (m.isEmpty() ? "" : " (" + dev.starattn.format.Printable.escape(m) + ")");
            }
            if (t instanceof java.net.ConnectException c) {
                String m = c.getMessage() == null ? "" : c.getMessage();
                // Netty appends ": /ADDRESS" to the operating system's reason.
                int colon = m.indexOf(": /");
                String reason = (colon >= 0 ? m.substring(0, colon) : m).strip();
                if (reason.toLowerCase(java.util.Locale.ROOT).contains("refused")) return "connection refused";
                return "cannot connect" + (reason.isEmpty() ? "" : " (" + dev.starattn.format.Printable.escape(reason) + ")");
            }
        }
        return null;
    }

    private static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + " s" : String.format("%.1f s", ms / 1000.0);
    }

    /** Frees the sessions of this process (named sessions are kept unless {@code named}). */
    public void releaseSessions(boolean named) {
        for (RemoteContextHost h : hosts) {
            if (options.session() != null && !named) h.detach();
            else h.clear();
        }
    }

    /** Frees anonymous sessions, keeps named ones, and closes the connections. */
    @Override
    public void close() {
        try {
            releaseSessions(false);
        } finally {
            for (ManagedChannel ch : channels) ch.shutdownNow();
            for (ManagedChannel ch : channels) {
                try {
                    ch.awaitTermination(2, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
