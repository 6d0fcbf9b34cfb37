package dev.starattn.cluster;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.starattn.attention.Partial;
import dev.starattn.cluster.proto.AttendReply;
import dev.starattn.cluster.proto.AttendRequest;
import dev.starattn.cluster.proto.Block;
import dev.starattn.cluster.proto.BlockDone;
import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.InfoReply;
import dev.starattn.cluster.proto.InfoRequest;
import dev.starattn.cluster.proto.PassKvReply;
import dev.starattn.cluster.proto.PassKvRequest;
import dev.starattn.cluster.proto.ReleaseReply;
import dev.starattn.cluster.proto.ReleaseRequest;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.RingHost;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.KvType;
import io.grpc.ConnectivityState;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import dev.starattn.model.LlamaConfig;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * A remote context host: serves {@code ContextHostService} over gRPC (Netty). Each encoded context
 * is a named session holding a {@link LocalContextHost} (the KV of the blocks sent to it); sessions
 * are freed on request, or by a reaper once unused for their time to live (a client may ask for a
 * shorter one than the host's, never a longer one), or a short grace after the phase-2 stream using
 * them broke (the client died or lost its connection). An optional memory budget bounds the KV all
 * sessions hold together; a client that is gone cannot keep its share for long.
 *
 * <p>Threads: calls are taken on the transport's (Netty's) threads. Short ones are answered there:
 * {@code Info}, {@code Release}, and {@code Attend} when its attention is small (one decoded
 * token over a shard of a few thousand tokens), because a hop to another thread and back costs
 * about as much as that attention on a loaded machine. Phase 1 ({@code Encode},
 * {@code PassKv}) and larger {@code Attend} calls run on a worker pool, so that a transport thread
 * is never held for long.
 */
public final class HostServer implements AutoCloseable {
    static final int MAX_MESSAGE_BYTES = 512 << 20;
    /**
     * The wire protocol's version, sent in {@code Info} and in every {@code Encode}: client and hosts refuse any other
     * (2: one {@code Encode} carries every strategy's task, ring shares included; 1 had {@code RingEncode}).
     */
    public static final int PROTOCOL = 2;
    /**
     * Most multiply-adds of Q.K (rows x KV tokens x query dim) an {@code Attend} may cost to be
     * answered on the transport thread (about half a millisecond here); larger ones go to the worker pool.
     */
    static final long INLINE_ATTEND_WORK = 1L << 21;
    private static final IntConsumer NO_HOOK = x -> {};

    private final LoadedModel model;
    private final String identity;
    private volatile int port = -1;
    private final long memoryBudget;
    /** The longest time to live of a session, and what a request that names none gets. */
    private final Duration defaultTtl;
    /** How long a session stays after the phase-2 stream using it broke, unless it is used again. */
    private final long streamGraceNanos;
    /** Logs one line per failed TLS handshake of a client (TLS hosts only). */
    private final Runnable tlsFailureLog;
    private final Consumer<String> log;
    private final dev.starattn.engine.BlockCache blockCache;
    private final Map<String, Session> sessions = new LinkedHashMap<>();
    private final AtomicLong encodeCalls = new AtomicLong();
    private final AtomicLong attendStreams = new AtomicLong();
    private final ScheduledExecutorService reaper;
    private final Server server;
    private volatile IntConsumer attendHook = NO_HOOK;
    private volatile IntConsumer encodeHook = NO_HOOK;
    /** Phase 1 and large phase-2 calls run here, off the transport threads. */
    private final ExecutorService worker;
    private final String authToken;
    private final Path tlsCert, tlsKey, tlsCa;
    /** Ring phase 1: KV blocks received from a predecessor, by ring id. */
    private final Map<String, Mailbox> mailboxes = new java.util.concurrent.ConcurrentHashMap<>();
    /** Ring phase 1: channels to peers, by address, dialed with this host's own security settings. */
    private final Map<String, ManagedChannel> peers = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean stopped;

    /** One encoded context on this host. Guarded by {@code sessions}. */
    static final class Session {
        final String id;
        final String hash;
        final LocalContextHost host;
        final KvType kvTypeK, kvTypeV;
        final long ttlNanos;
        long reservedBytes;
        long lastUsed;
        int inFlight;
        boolean ready;
        EncodeDone done;
        /** When the phase-2 stream last using it broke, or 0: the reaper frees it a grace after, unless it is used again. */
        long orphanedAt;

        Session(String id, String hash, LocalContextHost host, KvType kvTypeK, KvType kvTypeV, long ttlNanos, long reservedBytes) {
            this.id = id;
            this.hash = hash;
            this.host = host;
            this.kvTypeK = kvTypeK;
            this.kvTypeV = kvTypeV;
            this.ttlNanos = ttlNanos;
            this.reservedBytes = reservedBytes;
            this.lastUsed = System.nanoTime();
        }
    }

    private HostServer(Builder b) {
        this.model = b.model;
        this.identity = ModelIdentity.of(b.model);
        this.memoryBudget = b.memoryBudget;
        this.defaultTtl = b.defaultTtl;
        this.streamGraceNanos = b.streamGrace.toNanos();
        this.log = b.log;
        String tlsFailure = "TLS handshake with a client failed: it does not speak TLS (no --tls), does not trust this host's"
                + " certificate (its --tls-ca)" + (b.tlsCa != null ? ", or presents no certificate signed by this host's --tls-ca" : "");
        this.tlsFailureLog = b.tlsCert != null ? () -> log.accept(tlsFailure) : null;
        this.blockCache = b.blockCache;
        this.authToken = b.authToken;
        this.tlsCert = b.tlsCert;
        this.tlsKey = b.tlsKey;
        this.tlsCa = b.tlsCa;
        NettyServerBuilder nb = NettyServerBuilder.forAddress(new InetSocketAddress(b.bind, b.port))
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                // Handlers start on the transport thread; the Service moves long work to `worker`.
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
        Service svc = new Service();
        nb.addService(b.authToken != null ? ServerInterceptors.intercept(svc, BearerAuth.server(b.authToken)) : svc.bindService());
        this.server = nb.build();
        AtomicLong workers = new AtomicLong();
        this.worker = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "context-host-worker-" + workers.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
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
        return encodeCalls.get();
    }

    /** Phase-2 streams ({@code AttendStream}) opened since start. */
    public long attendStreams() {
        return attendStreams.get();
    }

    public int sessions() {
        synchronized (sessions) {
            return sessions.size();
        }
    }

    public long kvBytes() {
        synchronized (sessions) {
            long b = 0;
            for (Session s : sessions.values()) b += s.ready ? s.host.kvBytes() : s.reservedBytes;
            return b;
        }
    }

    public long memoryBudget() {
        return memoryBudget;
    }

    /** For tests: runs before every phase-2 call is served (e.g. to stall or kill the host mid-request). */
    public void onAttend(IntConsumer hook) {
        this.attendHook = hook == null ? NO_HOOK : hook;
    }

    /**
     * For tests: runs after each phase-1 block is encoded (with the count of blocks done); in ring
     * phase 1, after each layer (with the count of layers done).
     */
    public void onEncodeBlock(IntConsumer hook) {
        this.encodeHook = hook == null ? NO_HOOK : hook;
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
        stopped = true;
        if (tlsFailureLog != null) GrpcLogging.removeServerTlsListener(tlsFailureLog);
        synchronized (sessions) {
            sessions.clear();
        }
        for (Mailbox m : mailboxes.values()) m.fail("the host is shutting down");
        for (ManagedChannel ch : peers.values()) ch.shutdownNow();
        peers.clear();
    }

    /** Frees sessions unused for longer than their time to live, and those whose client's phase-2 stream broke a grace ago. */
    void reap() {
        long now = System.nanoTime();
        List<String> expired = new ArrayList<>(), orphaned = new ArrayList<>();
        synchronized (sessions) {
            var it = sessions.values().iterator();
            while (it.hasNext()) {
                Session s = it.next();
                if (!s.ready || s.inFlight != 0) continue;
                if (now - s.lastUsed > s.ttlNanos) {
                    it.remove();
                    expired.add(s.id);
                } else if (s.orphanedAt != 0 && now - s.orphanedAt > streamGraceNanos) {
                    it.remove();
                    orphaned.add(s.id);
                }
            }
        }
        for (String id : expired) log.accept("session " + id + " expired (unused for its time to live); its KV is freed");
        for (String id : orphaned) {
            log.accept("session " + id + " released: its client's phase-2 stream broke and it was not used again within "
                    + seconds(streamGraceNanos) + "; its KV is freed");
        }
        // Blocks passed for a ring run that never started here (or failed before taking them).
        mailboxes.entrySet().removeIf(e -> !e.getValue().owned() && now - e.getValue().created > defaultTtl.toNanos());
    }

    private static String seconds(long nanos) {
        long ms = TimeUnit.NANOSECONDS.toMillis(nanos);
        return ms % 1000 == 0 ? (ms / 1000) + " s" : String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    /** The phase-2 stream that used session {@code id} broke: the session goes a grace from now unless used again. */
    private void orphan(String id) {
        synchronized (sessions) {
            Session s = sessions.get(id);
            if (s != null) s.orphanedAt = System.nanoTime();
        }
    }

    /** Bytes of KV one token takes over all layers, keys stored as {@code k} and values as {@code v}. */
    long kvBytesPerToken(KvType k, KvType v) {
        LlamaConfig c = model.config();
        return (long) c.layers() * (k.rowBytes(c.kvDim()) + v.rowBytes(c.kvDim()));
    }

    /** A KV type asked for on the wire (a KvType id; 0 = f32, what requests without it mean). */
    static KvType kvType(int id, String what) {
        try {
            return KvType.byId(id);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown KV type id " + id + " for the " + what + " (this host knows f32, f16 and q8_0)");
        }
    }

    /**
     * Ring phase 1: the KV blocks one ring run on this host receives from its predecessor, keyed by
     * (layer, step). A block may arrive before the run starts here. Waiting ends with the block, the
     * deadline, or {@link #fail} (the client cancelled, the host stops).
     */
    static final class Mailbox {
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

    private static List<java.security.cert.X509Certificate> certificates(Path pem)
            throws IOException, java.security.cert.CertificateException {
        try (var in = java.nio.file.Files.newInputStream(pem)) {
            List<java.security.cert.X509Certificate> out = new ArrayList<>();
            for (var c : java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                out.add((java.security.cert.X509Certificate) c);
            }
            return out;
        }
    }

    /** A channel to a ring peer, with the security settings this host serves with. */
    private ManagedChannel peer(String addr) {
        if (stopped) throw new CancellationException("the host is shutting down");
        ManagedChannel ch = peers.computeIfAbsent(addr, a -> {
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || colon == a.length() - 1) throw new IllegalArgumentException("ring peer address '" + a + "' is not host:port");
            String host = a.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
            int p;
            try {
                p = Integer.parseInt(a.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ring peer address '" + a + "' has no valid port");
            }
            NettyChannelBuilder cb = NettyChannelBuilder.forAddress(host, p)
                    .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                    .keepAliveTime(30, TimeUnit.SECONDS)
                    .keepAliveTimeout(10, TimeUnit.SECONDS);
            if (tlsCert != null) {
                try {
                    // Peers are trusted when their certificate is in this host's own chain (hosts
                    // sharing a certificate or its issuer) or signed by --tls-ca.
                    List<java.security.cert.X509Certificate> trust = new ArrayList<>(certificates(tlsCert));
                    if (tlsCa != null) trust.addAll(certificates(tlsCa));
                    SslContextBuilder ssl = GrpcSslContexts.forClient().keyManager(tlsCert.toFile(), tlsKey.toFile())
                            .trustManager(trust.toArray(new java.security.cert.X509Certificate[0]));
                    cb.sslContext(ssl.build()).useTransportSecurity();
                } catch (IOException | IllegalArgumentException | java.security.cert.CertificateException e) {
                    throw new IllegalArgumentException("cannot set up TLS to ring peer " + a + ": " + e.getMessage(), e);
                }
            } else {
                cb.usePlaintext();
            }
            if (authToken != null) cb.intercept(BearerAuth.client(authToken));
            return cb.build();
        });
        return ch;
    }

    /**
     * Before a ring run: a peer channel that failed before (the peer was down and may have
     * restarted) is made to connect now rather than after its back-off, and this waits (at most
     * {@code timeoutMs}) until it is connected or has failed again, so that the first block is not
     * refused with a stale failure, and a dead peer still fails fast.
     */
    private void connectPeer(String addr, long timeoutMs) throws InterruptedException {
        peer(addr);
        ManagedChannel ch = peers.get(addr);
        if (ch == null) return;
        ConnectivityState st = ch.getState(true);
        if (st == ConnectivityState.READY) return;
        if (st == ConnectivityState.TRANSIENT_FAILURE) ch.resetConnectBackoff();
        boolean tried = false;
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (st != ConnectivityState.READY && st != ConnectivityState.SHUTDOWN) {
            if (st == ConnectivityState.CONNECTING) tried = true;
            else if (st == ConnectivityState.TRANSIENT_FAILURE && tried) return;
            long left = end - System.nanoTime();
            if (left <= 0) return;
            java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
            ch.notifyWhenStateChanged(st, changed::countDown);
            changed.await(left, TimeUnit.NANOSECONDS);
            st = ch.getState(true);
        }
    }

    private static StatusRuntimeException error(Status s, String msg) {
        return s.withDescription(msg).asRuntimeException();
    }

    private static Status toStatus(Throwable t) {
        if (t instanceof StatusRuntimeException s) return s.getStatus();
        if (t instanceof IllegalArgumentException) return Status.INVALID_ARGUMENT.withDescription(t.getMessage());
        if (t instanceof CancellationException) return Status.CANCELLED.withDescription(t.getMessage());
        if (t instanceof OutOfMemoryError) return Status.RESOURCE_EXHAUSTED.withDescription("the host ran out of memory; give it a larger -Xmx or a smaller --memory-budget");
        return Status.INTERNAL.withDescription(t.getClass().getSimpleName() + ": " + t.getMessage()).withCause(t);
    }

    private static int[] ints(List<Integer> l) {
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = l.get(i);
        return a;
    }

    private List<BlockTask> blocks(EncodeRequest req) {
        LlamaConfig c = model.config();
        List<BlockTask> out = new ArrayList<>(req.getBlocksCount());
        for (Block b : req.getBlocksList()) {
            int[] t = ints(b.getTokensList()), p = ints(b.getPositionsList());
            int[] at = ints(b.getAnchorTokensList()), ap = ints(b.getAnchorPositionsList());
            if (t.length == 0) throw new IllegalArgumentException("block " + b.getIndex() + " is empty");
            if (t.length != p.length || at.length != ap.length) {
                throw new IllegalArgumentException("block " + b.getIndex() + " has " + t.length + " tokens but " + p.length
                        + " positions (anchor: " + at.length + " and " + ap.length + ")");
            }
            for (int[] toks : new int[][] {t, at}) {
                for (int id : toks) {
                    if (id < 0 || id >= c.vocabSize()) {
                        throw new IllegalArgumentException("block " + b.getIndex() + " holds token id " + id
                                + " outside the model's vocabulary of " + c.vocabSize());
                    }
                }
            }
            for (int[] pos : new int[][] {p, ap}) {
                for (int x : pos) {
                    if (x < 0 || (c.contextLength() > 0 && x >= c.contextLength())) {
                        throw new IllegalArgumentException("block " + b.getIndex() + " holds position " + x
                                + " outside the model's context length of " + c.contextLength());
                    }
                }
            }
            out.add(new BlockTask(b.getIndex(), t, p, at, ap));
        }
        return out;
    }

    final class Service extends ContextHostServiceGrpc.ContextHostServiceImplBase {
        /** Runs {@code work} on the worker pool in the call's context; false (and the call failed) when the host is stopping. */
        private boolean offload(StreamObserver<?> obs, Runnable work) {
            try {
                worker.execute(Context.current().wrap(work));
                return true;
            } catch (RejectedExecutionException e) {
                obs.onError(error(Status.UNAVAILABLE, "the host is shutting down"));
                return false;
            }
        }

        @Override
        public void info(InfoRequest request, StreamObserver<InfoReply> obs) {
            int n;
            synchronized (sessions) {
                n = sessions.size();
            }
            obs.onNext(InfoReply.newBuilder()
                    .setFingerprint(identity)
                    .setModelName(String.valueOf(model.path().getFileName()))
                    .setConfig(model.config().toString())
                    .setSessions(n)
                    .setKvBytes(kvBytes())
                    .setMemoryBudget(memoryBudget)
                    .setEncodeCalls(encodeCalls.get())
                    .setVersion("starattn 0.1.0")
                    .setProtocol(PROTOCOL)
                    .build());
            obs.onCompleted();
        }

        @Override
        public void encode(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
            offload(obs, () -> encodeNow(req, obs));
        }

        private void encodeNow(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
            if (req.getProtocol() != PROTOCOL) {
                obs.onError(error(Status.FAILED_PRECONDITION, "this host speaks protocol " + PROTOCOL + " but the client sent "
                        + (req.getProtocol() == 0 ? "none (a starattn older than this host)" : "protocol " + req.getProtocol())
                        + "; run the same starattn version on the client and every host"));
                return;
            }
            if (req.hasRing()) {
                ringEncodeNow(req, obs);
                return;
            }
            Session s;
            List<BlockTask> blocks;
            try {
                blocks = blocks(req);
                long tokens = 0;
                for (BlockTask b : blocks) tokens += b.tokens().length;
                s = open(req.getSessionId(), req.getContentHash(), req.getRequireExisting(), req.getTtlMs(),
                        req.getPrefillChunk(), tokens, kvType(req.getKvTypeKValue(), "keys"),
                        kvType(req.getKvTypeVValue(), "values"), false);
            } catch (RuntimeException e) {
                obs.onError(toStatus(e).asRuntimeException());
                return;
            }
            if (s == null) { // reused: answer with what the session holds, no work done now
                obs.onNext(EncodeProgress.newBuilder().setDone(reusedDone(req.getSessionId())).build());
                obs.onCompleted();
                return;
            }
            try {
                encodeInto(s, blocks, obs);
            } catch (Throwable t) {
                synchronized (sessions) {
                    sessions.remove(s.id, s);
                }
                log.accept("session " + s.id + ": phase 1 failed: " + toStatus(t).getDescription());
                obs.onError(toStatus(t).asRuntimeException());
            }
        }

        /** Finds or creates the session; answers and returns null when an existing one is reused. */
        private Session open(String id, String hash, boolean requireExisting, long ttlMs, int prefillChunk, long tokens,
                             KvType kvTypeK, KvType kvTypeV, boolean replaceSame) {
            if (id.isEmpty() || id.length() > 200) throw error(Status.INVALID_ARGUMENT, "a session id must have 1 to 200 characters");
            long need = tokens * kvBytesPerToken(kvTypeK, kvTypeV);
            synchronized (sessions) {
                Session old = sessions.get(id);
                if (old != null) {
                    if (!old.ready) throw error(Status.FAILED_PRECONDITION, "session " + id + " is being encoded by another request");
                    if (old.kvTypeK != kvTypeK || old.kvTypeV != kvTypeV) {
                        // Never answer a request for one KV type with KV stored in another.
                        throw error(Status.FAILED_PRECONDITION, "session " + id + " holds KV of type " + types(old.kvTypeK, old.kvTypeV)
                                + " but the request asks for " + types(kvTypeK, kvTypeV) + "; release it or choose another session name");
                    }
                    if (!old.hash.equals(hash)) {
                        throw error(Status.FAILED_PRECONDITION, "session " + id + " holds a different context;"
                                + " release it or choose another session name");
                    }
                    if (requireExisting || !replaceSame) {
                        old.lastUsed = System.nanoTime();
                        return null;
                    }
                    // Ring: every host of the ring must take part, so the session is encoded again.
                    sessions.remove(id);
                }
                if (requireExisting) {
                    throw error(Status.NOT_FOUND, "session " + id + " does not exist on this host (it expired, was released,"
                            + " or the host restarted); run without --reuse to encode the context again");
                }
                if (memoryBudget > 0) {
                    long used = 0;
                    for (Session s : sessions.values()) used += s.ready ? s.host.kvBytes() : s.reservedBytes;
                    if (used + need > memoryBudget) {
                        throw error(Status.RESOURCE_EXHAUSTED, "session " + id + " needs " + need + " bytes of KV for "
                                + tokens + " tokens but the host's memory budget of " + memoryBudget + " bytes has "
                                + Math.max(0, memoryBudget - used) + " free (" + sessions.size()
                                + " session(s) hold " + used + "); release sessions or raise --memory-budget");
                    }
                }
                // A client may keep its session for less than the host's time to live, never for more: the
                // budget is shared, and a client that died must not hold its share for a time of its choosing.
                long ttl = ttlMs > 0 ? Math.min(TimeUnit.MILLISECONDS.toNanos(ttlMs), defaultTtl.toNanos()) : defaultTtl.toNanos();
                int chunk = prefillChunk > 0 ? prefillChunk : 1024;
                // The block cache keys include the KV types (as in process): blocks of different types never mix.
                Session s = new Session(id, hash, new LocalContextHost(id, model.model(), chunk, kvTypeK, kvTypeV, blockCache),
                        kvTypeK, kvTypeV, ttl, need);
                s.inFlight = 1;
                sessions.put(id, s);
                return s;
            }
        }

        private static String types(KvType k, KvType v) {
            return k == v ? k.cliName() : k.cliName() + " (keys) / " + v.cliName() + " (values)";
        }

        private EncodeDone reusedDone(String id) {
            synchronized (sessions) {
                Session s = sessions.get(id);
                EncodeDone d = s != null && s.done != null ? s.done : EncodeDone.getDefaultInstance();
                return d.toBuilder().setReused(true).setPhase1Nanos(0).setLinearFlops(0).setAttentionFlops(0).build();
            }
        }

        private void encodeInto(Session s, List<BlockTask> blocks, StreamObserver<EncodeProgress> obs) {
            Context ctx = Context.current();
            log.accept("session " + s.id + ": encoding " + blocks.size() + " block(s)");
            s.host.encode(dev.starattn.engine.EncodeTask.of(blocks), (host, done, total, tokens) -> {
                encodeHook.accept(done);
                if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
                obs.onNext(EncodeProgress.newBuilder()
                        .setBlockDone(BlockDone.newBuilder().setDone(done).setTotal(total).setTokens(tokens)).build());
            });
            // Cancelled after the last block: the client has given up, so the session is not published (encode's
            // failure path frees it) rather than kept until its time to live.
            if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
            HostStats st = s.host.stats();
            EncodeDone done = encodedStats(s)
                    .setCacheHits(st.cacheHits)
                    .setCacheMisses(st.cacheMisses)
                    .build();
            publish(s, done, obs);
        }

        /** What a fresh encode (star or ring) reports about the session's host; callers add their own fields. */
        private static EncodeDone.Builder encodedStats(Session s) {
            HostStats st = s.host.stats();
            return EncodeDone.newBuilder()
                    .setReused(false)
                    .setBlocks(st.blocks)
                    .setTokens(st.tokens)
                    .setKvTokens(s.host.kvTokens())
                    .setKvBytes(s.host.kvBytes())
                    .setPhase1Nanos(st.phase1Nanos)
                    .setLinearFlops(st.phase1LinearFlops)
                    .setAttentionFlops(st.phase1AttentionFlops);
        }

        /** Marks a freshly encoded session (star or ring) ready and sends the final progress message. */
        private void publish(Session s, EncodeDone done, StreamObserver<EncodeProgress> obs) {
            synchronized (sessions) {
                if (sessions.get(s.id) != s) throw new CancellationException("session " + s.id + " was released while it was encoded");
                s.ready = true;
                s.done = done;
                s.inFlight = 0;
                s.reservedBytes = s.host.kvBytes();
                s.lastUsed = System.nanoTime();
            }
            encodeCalls.incrementAndGet();
            obs.onNext(EncodeProgress.newBuilder().setDone(done).build());
            obs.onCompleted();
        }

        @Override
        public void attend(AttendRequest req, StreamObserver<AttendReply> obs) {
            Session s;
            try {
                s = acquire(req.getSessionId());
            } catch (StatusRuntimeException e) {
                obs.onError(e);
                return;
            }
            Runnable work = () -> {
                AttendReply r;
                try {
                    r = attendNow(s, req);
                } catch (Throwable t) {
                    obs.onError(toStatus(t).asRuntimeException());
                    return;
                }
                obs.onNext(r);
                obs.onCompleted();
            };
            if (inline(s, req)) work.run();
            else if (!offload(obs, work)) release(s);
        }

        /**
         * Phase 2 over one stream: each request is answered by one reply with its seq; a failed
         * request is answered in-band and the stream stays open. Flow control: the next request is
         * read only after the previous one is answered (one request in flight per stream, so a
         * client that sends ahead is held back by HTTP/2's window, not by memory here). Small
         * requests are answered on the transport thread that read them, larger ones on the worker
         * pool in the stream's context (a cancelled stream is seen by the work).
         */
        @Override
        public StreamObserver<AttendRequest> attendStream(StreamObserver<AttendReply> out) {
            ServerCallStreamObserver<AttendReply> obs = (ServerCallStreamObserver<AttendReply>) out;
            attendStreams.incrementAndGet();
            obs.disableAutoRequest();
            // A reply after the client cancelled (it gave up on a request) is dropped, not an error.
            obs.setOnCancelHandler(() -> {});
            Object lock = new Object();
            boolean[] state = new boolean[2]; // [0]: a request is being answered, [1]: the client half-closed
            // A request names its session only when it differs from the stream's previous one (the client sends it once).
            String[] streamSession = {""};
            obs.request(1);
            return new StreamObserver<>() {
                @Override
                public void onNext(AttendRequest req) {
                    synchronized (lock) {
                        state[0] = true;
                    }
                    if (!req.getSessionId().isEmpty()) streamSession[0] = req.getSessionId();
                    Session s;
                    try {
                        if (streamSession[0].isEmpty()) {
                            throw error(Status.INVALID_ARGUMENT, "the first request of a phase-2 stream must name its session");
                        }
                        s = acquire(streamSession[0]);
                    } catch (StatusRuntimeException e) {
                        answer(failed(req.getSeq(), e.getStatus()));
                        return;
                    }
                    Runnable work = () -> {
                        AttendReply r;
                        try {
                            r = attendNow(s, req).toBuilder().setSeq(req.getSeq()).build();
                        } catch (Throwable t) {
                            r = failed(req.getSeq(), toStatus(t));
                        }
                        answer(r);
                    };
                    if (inline(s, req)) {
                        work.run();
                    } else {
                        try {
                            worker.execute(Context.current().wrap(work));
                        } catch (RejectedExecutionException e) {
                            release(s);
                            answer(failed(req.getSeq(), Status.UNAVAILABLE.withDescription("the host is shutting down")));
                        }
                    }
                }

                private void answer(AttendReply r) {
                    boolean end;
                    synchronized (lock) {
                        state[0] = false;
                        end = state[1];
                        obs.onNext(r);
                        if (end) obs.onCompleted();
                    }
                    if (!end) obs.request(1);
                }

                @Override
                public void onError(Throwable t) {
                    // The client cancelled or the connection broke: work in flight sees its context cancelled.
                    // A client that died will not release its session: it goes after a grace unless used again.
                    if (!streamSession[0].isEmpty()) orphan(streamSession[0]);
                }

                @Override
                public void onCompleted() {
                    synchronized (lock) {
                        state[1] = true;
                        if (!state[0]) obs.onCompleted();
                    }
                }
            };
        }

        private static AttendReply failed(long seq, Status st) {
            return AttendReply.newBuilder().setSeq(seq).setErrorCode(st.getCode().value())
                    .setError(st.getDescription() == null ? "" : st.getDescription()).build();
        }

        /** The request's session, marked in use; NOT_FOUND when it is not (or not yet) there. */
        private Session acquire(String sessionId) {
            synchronized (sessions) {
                Session s = sessions.get(sessionId);
                if (s == null || !s.ready) {
                    throw error(Status.NOT_FOUND, "session " + sessionId + " does not exist on this host"
                            + " (it expired, was released, or the host restarted)");
                }
                s.inFlight++;
                s.lastUsed = System.nanoTime();
                s.orphanedAt = 0;
                return s;
            }
        }

        private void release(Session s) {
            synchronized (sessions) {
                s.inFlight--;
                s.lastUsed = System.nanoTime();
            }
        }

        /** True when the request is answered on the transport thread (see {@link #INLINE_ATTEND_WORK}). */
        private boolean inline(Session s, AttendRequest req) {
            long work = (long) Math.max(0, req.getRows()) * s.host.kvTokens() * model.config().qDim();
            return work <= INLINE_ATTEND_WORK && attendHook == NO_HOOK;
        }

        /** One phase-2 request answered; releases the session's in-use mark whatever happens. */
        private AttendReply attendNow(Session s, AttendRequest req) {
            try {
                attendHook.accept(req.getLayer());
                LlamaConfig c = model.config();
                if (req.getLayer() < 0 || req.getLayer() >= c.layers()) {
                    throw new IllegalArgumentException("layer " + req.getLayer() + " does not exist (the model has " + c.layers() + ")");
                }
                int rows = req.getRows();
                if (rows <= 0 || req.getQPosCount() != rows) {
                    throw new IllegalArgumentException(rows + " query rows with " + req.getQPosCount() + " positions");
                }
                float[] q = WireCodec.decode(req.getQ(), req.getWire(), rows * c.qDim(), "the query");
                long t0 = System.nanoTime();
                Partial p = s.host.attend(req.getLayer(), q, rows, ints(req.getQPosList()));
                long nanos = System.nanoTime() - t0;
                Wire w = req.getWire() == Wire.BF16 ? Wire.BF16 : Wire.F32;
                return AttendReply.newBuilder()
                        .setRows(p.rows()).setHeads(p.heads()).setHeadDim(p.headDim())
                        .setOut(WireCodec.encode(p.out(), w))
                        .setLse(WireCodec.f32(p.lse()))
                        .setPairs(p.pairs())
                        .setNanos(nanos)
                        .build();
            } finally {
                release(s);
            }
        }

        /** A ring share ({@code EncodeRequest.ring}): one block of tokens at their positions, no prefix. */
        private void ringEncodeNow(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
            Session s;
            int[] tokens, positions;
            try {
                if (req.getBlocksCount() != 1 || req.getBlocks(0).getAnchorTokensCount() > 0) {
                    throw new IllegalArgumentException("a ring share is one block without a prefix, not " + req.getBlocksCount() + " block(s)");
                }
                tokens = ints(req.getBlocks(0).getTokensList());
                positions = ints(req.getBlocks(0).getPositionsList());
                checkRing(req.getRing(), tokens, positions);
                s = open(req.getSessionId(), req.getContentHash(), req.getRequireExisting(), req.getTtlMs(), 0, tokens.length,
                        kvType(req.getKvTypeKValue(), "keys"), kvType(req.getKvTypeVValue(), "values"), true);
            } catch (RuntimeException e) {
                obs.onError(toStatus(e).asRuntimeException());
                return;
            }
            if (s == null) {
                obs.onNext(EncodeProgress.newBuilder().setDone(reusedDone(req.getSessionId())).build());
                obs.onCompleted();
                return;
            }
            Mailbox box = mailboxes.computeIfAbsent(req.getRing().getRingId(), k -> new Mailbox());
            Context ctx = Context.current();
            Context.CancellationListener onCancel = c -> box.fail("the client cancelled phase 1 or its deadline passed");
            ctx.addListener(onCancel, Runnable::run);
            try {
                if (!box.claim()) throw error(Status.FAILED_PRECONDITION, "ring run " + req.getRing().getRingId() + " already runs on this host");
                ringInto(s, req, tokens, positions, box, obs);
            } catch (Throwable t) {
                synchronized (sessions) {
                    sessions.remove(s.id, s);
                }
                log.accept("session " + s.id + ": ring phase 1 failed: " + toStatus(t).getDescription());
                obs.onError(toStatus(t).asRuntimeException());
            } finally {
                ctx.removeListener(onCancel);
                mailboxes.remove(req.getRing().getRingId(), box);
            }
        }

        private void checkRing(dev.starattn.cluster.proto.Ring req, int[] tokens, int[] positions) {
            LlamaConfig c = model.config();
            int hosts = req.getPeersCount();
            if (hosts < 1 || req.getHostIndex() < 0 || req.getHostIndex() >= hosts) {
                throw new IllegalArgumentException("host index " + req.getHostIndex() + " in a ring of " + hosts + " host(s)");
            }
            if (req.getRingId().isEmpty()) throw new IllegalArgumentException("a ring run needs a ring id");
            if (tokens.length != positions.length) {
                throw new IllegalArgumentException(tokens.length + " tokens but " + positions.length + " positions");
            }
            for (int id : tokens) {
                if (id < 0 || id >= c.vocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " lies outside the model's vocabulary of " + c.vocabSize());
                }
            }
            for (int x : positions) {
                if (x < 0 || (c.contextLength() > 0 && x >= c.contextLength())) {
                    throw new IllegalArgumentException("position " + x + " lies outside the model's context length of " + c.contextLength());
                }
            }
        }

        /**
         * This host's part of ring phase 1. Per layer: own Q, K, V and own attention; the own block
         * goes to the successor; each block from the predecessor is forwarded (unless it has
         * visited every host) and then merged in; then the layer is finished.
         */
        private void ringInto(Session s, EncodeRequest encode, int[] tokens, int[] positions, Mailbox box,
                              StreamObserver<EncodeProgress> obs) throws InterruptedException {
            dev.starattn.cluster.proto.Ring req = encode.getRing();
            Context ctx = Context.current();
            Deadline deadline = ctx.getDeadline();
            LlamaConfig c = model.config();
            int hosts = req.getPeersCount(), me = req.getHostIndex();
            String succ = req.getPeers((me + 1) % hosts), pred = req.getPeers((me - 1 + hosts) % hosts);
            Wire wire = req.getWire() == Wire.BF16 ? Wire.BF16 : Wire.F32;
            log.accept("session " + s.id + ": ring phase 1, host " + me + " of " + hosts + ", " + tokens.length + " token(s)");
            if (hosts > 1) connectPeer(succ, req.getPeerTimeoutMs() > 0 ? req.getPeerTimeoutMs() : 10_000);
            RingHost ring = new RingHost(model.model(), s.host, tokens, positions);
            long sent = 0;
            // Sends are asynchronous, so a block travels to the successor while this host attends to
            // it; they are awaited at the end of each layer (at most hosts - 1 blocks in flight).
            List<ListenableFuture<PassKvReply>> sends = new ArrayList<>();
            for (int l = 0; l < c.layers(); l++) {
                KvCache own = ring.beginLayer(l);
                if (hosts > 1) sent += pass(encode, succ, l, 1, me, own, wire, sends, box);
                for (int step = 1; step < hosts; step++) {
                    KvCache block;
                    try {
                        block = box.take(l, step, deadline, pred);
                    } catch (CancellationException woken) {
                        awaitSends(sends, succ);  // a failed send woke the wait: report it, naming the peer
                        throw woken;
                    }
                    if (block.keyType() != s.kvTypeK || block.valueType() != s.kvTypeV) {
                        // A block that travelled as f32 (or bf16) values, stored in the session's types, holds
                        // what its origin holds (re-quantizing dequantized f16 / q8_0 rows gives the same rows).
                        KvCache typed = new KvCache(c.kvHeads(), c.headDim(), Math.max(1, block.size()), s.kvTypeK, s.kvTypeV);
                        typed.append(block.keys(), block.values(), 0, block.size(), block.positions(), 0);
                        block = typed;
                    }
                    // Passed on first, so the successor can go on while this host computes.
                    if (step < hosts - 1) sent += pass(encode, succ, l, step + 1, (me - step + hosts) % hosts, block, wire, sends, box);
                    ring.visit(block);
                }
                awaitSends(sends, succ);
                ring.endLayer();
                encodeHook.accept(l + 1);
                if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
            }
            obs.onNext(EncodeProgress.newBuilder()
                    .setBlockDone(BlockDone.newBuilder().setDone(1).setTotal(1).setTokens(tokens.length)).build());
            EncodeDone done = encodedStats(s)
                    .setRingBytesSent(sent)
                    .setRingBytesReceived(box.bytesReceived())
                    .build();
            publish(s, done, obs);
        }

        /**
         * Starts sending one KV block to the successor (its future joins {@code sends}); returns the
         * bytes sent. A failed send wakes this host's wait for its predecessor's next block, which
         * might otherwise wait out the deadline for a ring that the dead successor has broken.
         */
        private long pass(EncodeRequest encode, String succ, int layer, int step, int origin, KvCache block, Wire wire,
                          List<ListenableFuture<PassKvReply>> sends, Mailbox box) {
            int rows = block.size();
            dev.starattn.cluster.proto.Ring req = encode.getRing();
            PassKvRequest.Builder b = PassKvRequest.newBuilder()
                    .setSessionId(encode.getSessionId()).setRingId(req.getRingId())
                    .setLayer(layer).setStep(step).setOrigin(origin).setRows(rows).setWire(wire);
            if (block.keyType() != KvType.F32 || block.valueType() != KvType.F32) {
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(
                        (int) KvCache.serializedBytes(block.kvHeads(), block.headDim(), block.keyType(), block.valueType(), rows));
                block.save(buf);
                b.setKTypeValue(block.keyType().id).setVTypeValue(block.valueType().id)
                        .setStored(com.google.protobuf.UnsafeByteOperations.unsafeWrap(buf.array()));
            } else {
                b.setK(WireCodec.encode(block.keysF32(0, rows), wire)).setV(WireCodec.encode(block.valuesF32(0, rows), wire));
                int[] pos = block.positions();
                for (int i = 0; i < rows; i++) b.addPositions(pos[i]);
            }
            PassKvRequest r = b.build();
            // Called on the handler's thread: the call inherits its deadline and cancellation.
            var stub = ContextHostServiceGrpc.newFutureStub(peer(succ));
            if (req.getPeerTimeoutMs() > 0) stub = stub.withDeadlineAfter(req.getPeerTimeoutMs(), TimeUnit.MILLISECONDS);
            ListenableFuture<PassKvReply> f = stub.passKv(r);
            f.addListener(() -> {
                try {
                    f.get();
                } catch (Exception failed) {
                    box.fail("a KV block could not be passed on to " + succ);
                }
            }, MoreExecutors.directExecutor());
            sends.add(f);
            return r.getSerializedSize();
        }

        /** Waits until the successor has taken every block sent so far; a refusal fails the ring run. */
        private void awaitSends(List<ListenableFuture<PassKvReply>> sends, String succ) throws InterruptedException {
            try {
                for (ListenableFuture<PassKvReply> f : sends) {
                    try {
                        f.get();
                    } catch (java.util.concurrent.ExecutionException e) {
                        Throwable cause = e.getCause();
                        if (Context.current().isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
                        if (!(cause instanceof StatusRuntimeException sre)) throw error(Status.ABORTED, "its ring peer " + succ + " failed: " + cause);
                        Status st = sre.getStatus();
                        String d = st.getDescription() == null ? "" : " (" + st.getDescription() + ")";
                        String why = switch (st.getCode()) {
                            case UNAVAILABLE -> "is unreachable or gone" + d;
                            case DEADLINE_EXCEEDED -> "did not take a KV block within the deadline";
                            case UNAUTHENTICATED -> "refused the call" + d + "; every host needs the same --auth-token-file";
                            default -> "failed: " + st.getCode() + d;
                        };
                        throw error(Status.ABORTED, "its ring peer " + succ + " " + why);
                    }
                }
            } finally {
                for (ListenableFuture<PassKvReply> f : sends) f.cancel(true);  // no-op for the finished ones
                sends.clear();
            }
        }

        @Override
        public void passKv(PassKvRequest req, StreamObserver<PassKvReply> obs) {
            offload(obs, () -> passKvNow(req, obs));
        }

        private void passKvNow(PassKvRequest req, StreamObserver<PassKvReply> obs) {
            try {
                LlamaConfig c = model.config();
                if (req.getLayer() < 0 || req.getLayer() >= c.layers()) {
                    throw new IllegalArgumentException("layer " + req.getLayer() + " does not exist (the model has " + c.layers() + ")");
                }
                int rows = req.getRows();
                if (req.getRingId().isEmpty()) throw new IllegalArgumentException("a KV block needs a ring id");
                KvCache block;
                if (!req.getStored().isEmpty()) {
                    KvType kt = kvType(req.getKTypeValue(), "keys"), vt = kvType(req.getVTypeValue(), "values");
                    long want = rows < 0 ? -1 : KvCache.serializedBytes(c.kvHeads(), c.headDim(), kt, vt, rows);
                    if (want != req.getStored().size()) {
                        throw new IllegalArgumentException("a stored KV block of " + rows + " rows (" + kt.cliName() + "/" + vt.cliName()
                                + ") holds " + req.getStored().size() + " bytes, expected " + want);
                    }
                    block = KvCache.load(req.getStored().asReadOnlyByteBuffer(), c.kvHeads(), c.headDim(), kt, vt, rows);
                } else {
                    if (rows < 0 || req.getPositionsCount() != rows) throw new IllegalArgumentException(rows + " KV rows with " + req.getPositionsCount() + " positions");
                    int kvDim = c.kvHeads() * c.headDim();
                    float[] k = WireCodec.decode(req.getK(), req.getWire(), rows * kvDim, "the keys");
                    float[] v = WireCodec.decode(req.getV(), req.getWire(), rows * kvDim, "the values");
                    block = new KvCache(c.kvHeads(), c.headDim(), Math.max(1, rows));
                    block.append(k, v, 0, rows, ints(req.getPositionsList()), 0);
                }
                if (stopped) throw error(Status.UNAVAILABLE, "the host is shutting down");
                mailboxes.computeIfAbsent(req.getRingId(), id -> new Mailbox())
                        .put(req.getLayer(), req.getStep(), block, req.getSerializedSize());
                obs.onNext(PassKvReply.getDefaultInstance());
                obs.onCompleted();
            } catch (Throwable t) {
                obs.onError(toStatus(t).asRuntimeException());
            }
        }

        @Override
        public void release(ReleaseRequest req, StreamObserver<ReleaseReply> obs) {
            Session s;
            synchronized (sessions) {
                s = sessions.remove(req.getSessionId());
            }
            if (s != null) log.accept("session " + s.id + " released");
            obs.onNext(ReleaseReply.newBuilder().setReleased(s != null).build());
            obs.onCompleted();
        }
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
