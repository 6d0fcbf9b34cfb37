package dev.starattn.cluster;

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
import dev.starattn.cluster.proto.ReleaseReply;
import dev.starattn.cluster.proto.ReleaseRequest;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.model.LlamaConfig;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
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
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * A remote context host: serves {@code ContextHostService} over gRPC (Netty). Each encoded context
 * is a named session holding a {@link LocalContextHost} (the KV of the blocks sent to it); sessions
 * are freed on request, or by a reaper once unused for their time to live. An optional memory
 * budget bounds the KV all sessions hold together.
 */
public final class HostServer implements AutoCloseable {
    static final int MAX_MESSAGE_BYTES = 512 << 20;

    private final LoadedModel model;
    private final String identity;
    private volatile int port = -1;
    private final long memoryBudget;
    private final Duration defaultTtl;
    private final Consumer<String> log;
    private final dev.starattn.engine.BlockCache blockCache;
    private final Map<String, Session> sessions = new LinkedHashMap<>();
    private final AtomicLong encodeCalls = new AtomicLong();
    private final ScheduledExecutorService reaper;
    private final Server server;
    private volatile IntConsumer attendHook = layer -> {};
    private volatile IntConsumer encodeHook = block -> {};

    /** One encoded context on this host. Guarded by {@code sessions}. */
    static final class Session {
        final String id;
        final String hash;
        final LocalContextHost host;
        final long ttlNanos;
        long reservedBytes;
        long lastUsed;
        int inFlight;
        boolean ready;
        EncodeDone done;

        Session(String id, String hash, LocalContextHost host, long ttlNanos, long reservedBytes) {
            this.id = id;
            this.hash = hash;
            this.host = host;
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
        this.log = b.log;
        this.blockCache = b.blockCache;
        NettyServerBuilder nb = NettyServerBuilder.forAddress(new InetSocketAddress(b.bind, b.port))
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .permitKeepAliveTime(5, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
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
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "session-reaper");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(1, b.reaperPeriod.toMillis());
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
        } catch (IOException e) {
            reaper.shutdownNow();
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
        this.attendHook = hook == null ? layer -> {} : hook;
    }

    /** For tests: runs after each phase-1 block is encoded (with the count of blocks done). */
    public void onEncodeBlock(IntConsumer hook) {
        this.encodeHook = hook == null ? block -> {} : hook;
    }

    /** Stops at once: in-flight calls fail, connections close (what a killed host looks like). */
    public void shutdownNow() {
        server.shutdownNow();
        reaper.shutdownNow();
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
        dropAll();
    }

    private void dropAll() {
        synchronized (sessions) {
            sessions.clear();
        }
    }

    /** Frees sessions unused for longer than their time to live. */
    void reap() {
        long now = System.nanoTime();
        List<String> gone = new ArrayList<>();
        synchronized (sessions) {
            var it = sessions.values().iterator();
            while (it.hasNext()) {
                Session s = it.next();
                if (s.ready && s.inFlight == 0 && now - s.lastUsed > s.ttlNanos) {
                    it.remove();
                    gone.add(s.id);
                }
            }
        }
        for (String id : gone) log.accept("session " + id + " expired (unused for its time to live); its KV is freed");
    }

    long kvBytesPerToken() {
        LlamaConfig c = model.config();
        return (long) c.layers() * c.kvHeads() * c.headDim() * 2 * Float.BYTES;
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
                    .build());
            obs.onCompleted();
        }

        @Override
        public void encode(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
            Session s;
            List<BlockTask> blocks;
            try {
                blocks = blocks(req);
                s = open(req, blocks);
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
        private Session open(EncodeRequest req, List<BlockTask> blocks) {
            String id = req.getSessionId();
            if (id.isEmpty() || id.length() > 200) throw error(Status.INVALID_ARGUMENT, "a session id must have 1 to 200 characters");
            long tokens = 0;
            for (BlockTask b : blocks) tokens += b.tokens().length;
            long need = tokens * kvBytesPerToken();
            synchronized (sessions) {
                Session old = sessions.get(id);
                if (old != null) {
                    if (!old.ready) throw error(Status.FAILED_PRECONDITION, "session " + id + " is being encoded by another request");
                    if (!old.hash.equals(req.getContentHash())) {
                        throw error(Status.FAILED_PRECONDITION, "session " + id + " holds a different context;"
                                + " release it or choose another session name");
                    }
                    old.lastUsed = System.nanoTime();
                    return null;
                }
                if (req.getRequireExisting()) {
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
                long ttl = req.getTtlMs() > 0 ? TimeUnit.MILLISECONDS.toNanos(req.getTtlMs()) : defaultTtl.toNanos();
                int chunk = req.getPrefillChunk() > 0 ? req.getPrefillChunk() : 1024;
                Session s = new Session(id, req.getContentHash(), new LocalContextHost(id, model.model(), chunk,
                        dev.starattn.attention.KvType.F32, dev.starattn.attention.KvType.F32, blockCache), ttl, need);
                s.inFlight = 1;
                sessions.put(id, s);
                return s;
            }
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
            s.host.encodeStar(blocks, (host, done, total, tokens) -> {
                encodeHook.accept(done);
                if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
                obs.onNext(EncodeProgress.newBuilder()
                        .setBlockDone(BlockDone.newBuilder().setDone(done).setTotal(total).setTokens(tokens)).build());
            });
            HostStats st = s.host.stats();
            EncodeDone done = EncodeDone.newBuilder()
                    .setReused(false)
                    .setBlocks(st.blocks)
                    .setTokens(st.tokens)
                    .setKvTokens(s.host.kvTokens())
                    .setKvBytes(s.host.kvBytes())
                    .setPhase1Nanos(st.phase1Nanos)
                    .setLinearFlops(st.phase1LinearFlops)
                    .setAttentionFlops(st.phase1AttentionFlops)
                    .setCacheHits(st.cacheHits)
                    .setCacheMisses(st.cacheMisses)
                    .build();
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
            synchronized (sessions) {
                s = sessions.get(req.getSessionId());
                if (s == null || !s.ready) {
                    obs.onError(error(Status.NOT_FOUND, "session " + req.getSessionId() + " does not exist on this host"
                            + " (it expired, was released, or the host restarted)"));
                    return;
                }
                s.inFlight++;
                s.lastUsed = System.nanoTime();
            }
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
                obs.onNext(AttendReply.newBuilder()
                        .setRows(p.rows()).setHeads(p.heads()).setHeadDim(p.headDim())
                        .setOut(WireCodec.encode(p.out(), w))
                        .setLse(WireCodec.f32(p.lse()))
                        .setPairs(p.pairs())
                        .setNanos(nanos)
                        .build());
                obs.onCompleted();
            } catch (Throwable t) {
                obs.onError(toStatus(t).asRuntimeException());
            } finally {
                synchronized (sessions) {
                    s.inFlight--;
                    s.lastUsed = System.nanoTime();
                }
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
        private Duration defaultTtl = Duration.ofMinutes(30);
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

        public Builder defaultTtl(Duration ttl) {
            this.defaultTtl = ttl;
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
