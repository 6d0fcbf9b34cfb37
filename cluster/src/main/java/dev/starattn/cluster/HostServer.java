package dev.starattn.cluster;

import dev.starattn.model.LoadedModel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * A remote context host: serves {@code ContextHostService} ({@link ContextHostService}) over gRPC
 * (Netty). Each encoded context is a named session holding a {@link dev.starattn.engine.LocalContextHost}
 * (the KV of the blocks sent to it), kept in a {@link SessionStore}: sessions are freed on request,
 * or by a reaper once unused for their time to live (a client may ask for a shorter one than the
 * host's, never a longer one), or a short grace after the phase-2 stream using them broke (the
 * client died or lost its connection). An optional memory budget bounds the KV all sessions hold
 * together; a client that is gone cannot keep its share for long. Ring phase 1 exchanges KV blocks
 * with peer hosts ({@link RingEncoder}, {@link RingMailboxes}, {@link PeerChannels}).
 *
 * <p>This class wires those parts together, and starts and stops the server, its worker pool and
 * its reaper.
 */
public final class HostServer implements AutoCloseable {
    static final int MAX_MESSAGE_BYTES = 512 << 20;
    /**
     * The wire protocol's version, sent in {@code Info} and in every {@code Encode}: client and hosts refuse any other
     * (4: a ring's {@code Encode} carries every host's key span, and a sliding-window layer's block stops at the last
     * host that sees it, so hosts of different versions would wait for blocks never sent; 3: {@code Encode} carries
     * star-pass runs and PassKv their rows; 2: one {@code Encode} carries every strategy's task, ring shares included;
     * 1 had {@code RingEncode}).
     */
    public static final int PROTOCOL = 4;

    private final String identity;
    private volatile int port = -1;
    /** Blocks passed for a ring run that never started here are dropped this long after they came. */
    private final long unclaimedBlocksTtlNanos;
    /** Logs one line per failed TLS handshake of a client (TLS hosts only). */
    private final Runnable tlsFailureLog;
    private final SessionStore sessions;
    private final HostMemory memory;
    private final RingMailboxes mailboxes = new RingMailboxes();
    private final PeerChannels peers;
    private final HostHooks hooks = new HostHooks();
    private final ContextHostService service;
    private final ScheduledExecutorService reaper;
    private final Server server;
    /** Phase 1 and large phase-2 calls run here, off the transport threads. */
    private final ExecutorService worker;

    private HostServer(Builder b) {
        this.identity = ModelIdentity.of(b.model);
        this.unclaimedBlocksTtlNanos = b.defaultTtl.toNanos();
        Consumer<String> log = b.log;
        String tlsFailure = "TLS handshake with a client failed: it does not speak TLS (no --tls), does not trust this host's"
                + " certificate (its --tls-ca)" + (b.tlsCa != null ? ", or presents no certificate signed by this host's --tls-ca" : "");
        this.tlsFailureLog = b.tlsCert != null ? () -> log.accept(tlsFailure) : null;
        this.sessions = new SessionStore(b.model, b.memoryBudget, b.defaultTtl, b.streamGrace, b.blockCache, log);
        this.memory = new HostMemory(b.model);
        this.peers = new PeerChannels(b.tlsCert, b.tlsKey, b.tlsCa, b.authToken);
        NettyServerBuilder nb = NettyServerBuilder.forAddress(new InetSocketAddress(b.bind, b.port))
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                // Handlers start on the transport thread; the service moves long work to `worker`.
                .directExecutor();
        GrpcLogging.install();
        if (b.tlsCert != null) {
            try {
                SslContextBuilder ssl = GrpcSslContexts.forServer(b.tlsCert.toFile(), b.tlsKey.toFile());
                if (b.tlsCa != null) ssl.trustManager(b.tlsCa.toFile()).clientAuth(ClientAuth.REQUIRE);
                nb.sslContext(ssl.build());
            } catch (IOException | IllegalArgumentException e) {
                throw new IllegalArgumentException("cannot set up TLS from --tls-cert " + b.tlsCert + " and --tls-key "
                        + b.tlsKey + (b.tlsCa != null ? " and --tls-ca " + b.tlsCa : "") + ": " + e.getMessage(), e);
            }
        }
        AtomicLong workers = new AtomicLong();
        this.worker = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "context-host-worker-" + workers.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.service = new ContextHostService(b.model, identity, sessions, mailboxes,
                new StarEncoder(b.model, sessions, memory, hooks, log),
                new RingEncoder(b.model, sessions, mailboxes, peers, hooks, log),
                new PassEncoder(b.model, sessions, mailboxes, peers, hooks, log),
                new SessionAttention(b.model, sessions, hooks), worker, log);
        nb.addService(b.authToken != null ? ServerInterceptors.intercept(service, BearerAuth.server(b.authToken)) : service.bindService());
        this.server = nb.build();
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "session-reaper");
            t.setDaemon(true);
            return t;
        });
        // Often enough that a short grace is kept to within about half of itself.
        long period = Math.max(1, Math.min(b.reaperPeriod.toMillis(), b.streamGrace.toMillis() / 2));
        reaper.scheduleAtFixedRate(this::reap, period, period, TimeUnit.MILLISECONDS);
    }

    public static Builder builder(LoadedModel model) {
        return new Builder(model);
    }

    /** Binds and starts serving. */
    public HostServer start() {
        try {
            server.start();
            port = server.getPort();
            if (tlsFailureLog != null) GrpcLogging.onServerTlsFailure(tlsFailureLog);
        } catch (IOException e) {
            reaper.shutdownNow();
            worker.shutdown();
            throw new UncheckedIOException("cannot listen on port " + e.getMessage(), e);
        }
        return this;
    }

    /** The port it listens on (kept after shutdown, so a test can restart a host on it). */
    public int port() {
        return port;
    }

    /** What clients compare with their own model: {@link ModelIdentity#of}. */
    public String fingerprint() {
        return identity;
    }

    /** Phase-1 encodes actually computed (reuses of a session not counted). */
    public long encodeCalls() {
        return sessions.encodeCalls();
    }

    /** Phase-2 streams ({@code AttendStream}) opened since start. */
    public long attendStreams() {
        return service.attendStreams();
    }

    /** KV blocks and passing rows received from peers ({@code PassKv}) since start. */
    public long passKvCalls() {
        return service.passKvCalls();
    }

    public int sessions() {
        return sessions.size();
    }

    public long kvBytes() {
        return sessions.kvBytes();
    }

    public long memoryBudget() {
        return sessions.memoryBudget();
    }

    /** {@code memory: RSS ...}: the host's resident memory against its weights and its sessions' KV ({@link HostMemory}). */
    public String memoryLine() {
        return memory.line(sessions.kvBytes(), 0);
    }

    /** For tests: runs before every phase-2 call is served (e.g. to stall or kill the host mid-request). */
    public void onAttend(IntConsumer hook) {
        hooks.attend = hook == null ? HostHooks.NONE : hook;
    }

    /**
     * For tests: runs after each phase-1 block is encoded (with the count of blocks done); in ring
     * phase 1, after each layer (with the count of layers done).
     */
    public void onEncodeBlock(IntConsumer hook) {
        hooks.encode = hook == null ? HostHooks.NONE : hook;
    }

    /** Stops at once: in-flight calls fail, connections close (what a killed host looks like). */
    public void shutdownNow() {
        server.shutdownNow();
        reaper.shutdownNow();
        worker.shutdown(); // running work sees its call cancelled and ends
        dropAll();
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(5, TimeUnit.SECONDS)) server.shutdownNow();
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        reaper.shutdownNow();
        worker.shutdown();
        dropAll();
    }

    private void dropAll() {
        if (tlsFailureLog != null) GrpcLogging.removeServerTlsListener(tlsFailureLog);
        sessions.clear();
        mailboxes.stop();
        peers.stop();
    }

    /** The reaper's round: expired and orphaned sessions, and blocks passed for ring runs that never started here. */
    void reap() {
        long now = System.nanoTime();
        sessions.reap(now);
        mailboxes.dropUnclaimed(now, unclaimedBlocksTtlNanos);
    }

    public static final class Builder {
        private final LoadedModel model;
        private String bind = "127.0.0.1";
        private int port;
        private String authToken;
        private Path tlsCert, tlsKey, tlsCa;
        private long memoryBudget;
        private Duration defaultTtl = Duration.ofMinutes(10);
        private Duration streamGrace = Duration.ofSeconds(30);
        private Duration reaperPeriod = Duration.ofSeconds(5);
        private Consumer<String> log = s -> {};
        private dev.starattn.engine.BlockCache blockCache;

        Builder(LoadedModel model) {
            this.model = model;
        }

        public Builder bind(String addr) {
            this.bind = addr;
            return this;
        }

        /** 0 = an ephemeral port ({@link HostServer#port()} tells which). */
        public Builder port(int p) {
            if (p < 0 || p > 65535) throw new IllegalArgumentException("--port must be 0..65535, got " + p);
            this.port = p;
            return this;
        }

        public Builder authToken(String t) {
            this.authToken = t;
            return this;
        }

        /** TLS with this certificate chain and PKCS#8 key (PEM); with {@code ca}, clients must present a certificate it signed. */
        public Builder tls(Path cert, Path key, Path ca) {
            if ((cert == null) != (key == null)) throw new IllegalArgumentException("TLS needs both --tls-cert and --tls-key");
            if (ca != null && cert == null) throw new IllegalArgumentException("--tls-ca needs --tls-cert and --tls-key");
            this.tlsCert = cert;
            this.tlsKey = key;
            this.tlsCa = ca;
            return this;
        }

        /** The most bytes of KV all sessions may hold together; 0 = unlimited. */
        public Builder memoryBudget(long bytes) {
            if (bytes < 0) throw new IllegalArgumentException("--memory-budget must be 0 (unlimited) or more, got " + bytes);
            this.memoryBudget = bytes;
            return this;
        }

        /** The longest a session may stay unused ({@code --session-ttl}): what a client asking for more gets, and the default. */
        public Builder defaultTtl(Duration ttl) {
            if (ttl == null || ttl.isNegative() || ttl.isZero()) throw new IllegalArgumentException("--session-ttl must be positive");
            this.defaultTtl = ttl;
            return this;
        }

        /**
         * How long a session stays after the phase-2 stream using it broke (its client died or lost the
         * connection) before it is freed, unless it is used again meanwhile ({@code --session-grace}).
         */
        public Builder streamGrace(Duration grace) {
            if (grace == null || grace.isNegative()) throw new IllegalArgumentException("--session-grace must be 0 or more seconds");
            this.streamGrace = grace;
            return this;
        }

        public Builder reaperPeriod(Duration p) {
            this.reaperPeriod = p;
            return this;
        }

        /** Star blocks already encoded (same model, anchor, tokens, positions) are taken from here, not encoded again. */
        public Builder blockCache(dev.starattn.engine.BlockCache cache) {
            this.blockCache = cache;
            return this;
        }

        public Builder log(Consumer<String> sink) {
            this.log = sink;
            return this;
        }

        public HostServer build() {
            return new HostServer(this);
        }

        public HostServer start() {
            return build().start();
        }
    }
}
