package dev.starattn.cluster;

import dev.starattn.attention.KvType;
import dev.starattn.attention.Partial;
import dev.starattn.cluster.proto.AttendReply;
import dev.starattn.cluster.proto.AttendRequest;
import dev.starattn.cluster.proto.Block;
import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.KeySpan;
import dev.starattn.cluster.proto.ReleaseRequest;
import dev.starattn.cluster.proto.Ring;
import dev.starattn.cluster.proto.StarPass;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.ProgressListener;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;

/**
 * A context host in another process, reached over gRPC: phase 1 sends it the token ids of its
 * blocks and their anchors (its KV stays there); phase 2 sends it the RoPE-applied queries of each
 * layer and receives (out, lse). Every call has a deadline; a failure becomes an
 * {@link IllegalStateException} "context host ADDRESS failed: ...".
 */
public final class RemoteContextHost implements ContextHost {
    private final Cluster cluster;
    private final String address;
    private final ContextHostServiceGrpc.ContextHostServiceBlockingStub stub;
    /** Whether the session held now was created by the last encode (unnamed, new): a failed request frees it. */
    private boolean freshSession;
    /** Phase 2: answers are handled on the transport thread ({@link #startAttend}). */
    private final ContextHostServiceGrpc.ContextHostServiceFutureStub futureStub;
    /** Phase 2 over a stream ({@link Phase2Stream}); answers handled on the transport thread. */
    private final ContextHostServiceGrpc.ContextHostServiceStub asyncStub;
    private final ClusterOptions options;
    private final HostStats stats;
    private final int heads, headDim;

    private volatile String sessionId;
    private List<BlockTask> blocks;
    private String hash;
    private volatile int kvTokens;
    /** Positions of the keys the last encode left on the host (phase 2 skips it where a sliding window excludes them all). */
    private volatile int[] keyRange;
    private volatile long kvBytes;
    private volatile boolean lastReused;
    /** The KV types the next phase 1 asks for ({@link #useKvTypes}). */
    private volatile KvType kvTypeK = KvType.F32, kvTypeV = KvType.F32;
    /** Why this request's phase 1 is to stop (another host failed: {@link #cancelEncode}), or null. */
    private volatile String cancelled;
    /** The phase-1 call in flight, or null. */
    private volatile Context.CancellableContext activePhase1;
    /** The KV types the current session was encoded with. */
    private KvType encodedK = KvType.F32, encodedV = KvType.F32;

    RemoteContextHost(Cluster cluster, String address, ContextHostServiceGrpc.ContextHostServiceBlockingStub stub,
                      ContextHostServiceGrpc.ContextHostServiceFutureStub futureStub, ContextHostServiceGrpc.ContextHostServiceStub asyncStub,
                      ClusterOptions options, int heads, int headDim) {
        this.cluster = cluster;
        this.address = address;
        this.stub = stub;
        this.futureStub = futureStub.withExecutor(Runnable::run);
        this.asyncStub = asyncStub.withExecutor(Runnable::run);
        this.options = options;
        this.stats = new HostStats(address);
        this.heads = heads;
        this.headDim = headDim;
    }

    @Override
    public String name() {
        return address;
    }

    public String address() {
        return address;
    }

    @Override
    public HostStats stats() {
        return stats;
    }

    @Override
    public boolean isRemote() {
        return true;
    }

    /** The session this host's KV lives in, or null before phase 1. */
    public String sessionId() {
        return sessionId;
    }

    /** True when the last phase 1 found the session already encoded and did no work. */
    public boolean lastEncodeReused() {
        return lastReused;
    }

    /** The engine's KV types: the host stores the sessions encoded from now on in them. */
    @Override
    public void useKvTypes(KvType keys, KvType values) {
        if (keys == null || values == null) throw new IllegalArgumentException("KV types must be given");
        this.kvTypeK = keys;
        this.kvTypeV = values;
    }

    /** The KV types the next phase 1 asks the host for. */
    public KvType kvTypeK() {
        return kvTypeK;
    }

    public KvType kvTypeV() {
        return kvTypeV;
    }

    /** Phase 1: the task as one {@code Encode} call (a ring share with its ring, for the host to exchange KV itself). */
    @Override
    public void encode(EncodeTask task, ProgressListener progress) {
        keyRange = null;
        if (task.ring() != null) {
            BlockTask share = task.blocks().getFirst();
            encodeRing(task.ring(), share.tokens(), share.positions(), progress);
        } else if (task.pass() != null) {
            encodePass(task.blocks(), task.pass(), progress);
        } else {
            encodeBlocks(task.blocks(), progress);
        }
        keyRange = task.keptPositionRange();
    }

    @Override
    public int[] keyPositionRange() {
        return kvTokens == 0 ? null : keyRange;
    }

    private void encodeBlocks(List<BlockTask> blocks, ProgressListener progress) {
        KvType k = kvTypeK, v = kvTypeV;
        String newHash = hash(blocks, options.prefillChunk(), k, v);
        String named = options.session();
        freshSession = false;  // until this encode succeeds: a session reused from an earlier request is never abandoned
        if (sessionId != null && named == null && !newHash.equals(hash)) clear();
        if (blocks.isEmpty()) {
            this.blocks = blocks;
            this.hash = newHash;
            kvTokens = 0;
            kvBytes = 0;
            return;
        }
        if (cancelled != null) throw new IllegalStateException(cancelled);
        cluster.checkHealth(this); // wakes a reconnecting channel and fails fast on a dead host
        String id = named != null ? named : sessionId != null && newHash.equals(hash) ? sessionId
                : "ctx-" + UUID.randomUUID();
        boolean fresh = named == null && !id.equals(sessionId);
        try {
            encode(id, newHash, blocks, k, v, options.reuse(), progress);
        } catch (RuntimeException e) {
            if (fresh) abandon(id);
            throw e;
        }
        freshSession = fresh;
    }

    @Override
    public void cancelEncode(String why) {
        cancelled = why;
        Context.CancellableContext c = activePhase1;
        if (c != null) cluster.cancelPhase1(c, why);
    }

    @Override
    public void resetCancel() {
        cancelled = null;
    }

    /** The phase 1 failed on another host after this one had finished: a session made for this request goes. */
    @Override
    public void abandonEncode() {
        if (freshSession && sessionId != null) {
            abandon(sessionId);
            detach();
        }
        freshSession = false;
    }

    /**
     * Frees a session this request created on the host and will not use: its phase 1 failed, or was cancelled
     * because another host failed, and the host may have finished encoding it before the cancellation reached
     * it (then it would hold the KV until its time to live). Sent without waiting, outside any cancelled
     * context: a dead host is not waited for, a live one frees the session whether it is still encoding it
     * (its encode then ends cancelled) or has finished. Named sessions are the user's and are left alone.
     */
    private void abandon(String id) {
        Context.ROOT.run(() -> futureStub.withDeadlineAfter(options.callTimeout().toMillis(), TimeUnit.MILLISECONDS)
                .release(ReleaseRequest.newBuilder().setSessionId(id).build()));
    }

    private void encode(String id, String newHash, List<BlockTask> blocks, KvType k, KvType v, boolean requireExisting,
                        ProgressListener progress) {
        EncodeRequest.Builder rb = request(id, newHash, requireExisting, k, v).setPrefillChunk(options.prefillChunk());
        for (BlockTask b : blocks) rb.addBlocks(block(b));
        EncodeRequest req = rb.build();
        long[] received = new long[1];
        EncodeDone done = phase1(s -> s.encode(req), progress, received);
        this.sessionId = id;
        this.blocks = blocks;
        this.hash = newHash;
        this.encodedK = k;
        this.encodedV = v;
        took(done);
        stats.phase1BytesReceived = req.getSerializedSize();
        stats.phase1BytesSent = received[0];
    }

    /** An {@code Encode} with the fields every strategy sends. */
    private EncodeRequest.Builder request(String id, String contentHash, boolean requireExisting, KvType k, KvType v) {
        return EncodeRequest.newBuilder()
                .setSessionId(id)
                .setTtlMs(options.sessionTtl().toMillis())
                .setContentHash(contentHash)
                .setRequireExisting(requireExisting)
                .setKvTypeKValue(k.id)
                .setKvTypeVValue(v.id)
                .setProtocol(HostServer.PROTOCOL);
    }

    /**
     * Ring phase 1 ({@code Encode} with its {@code ring}): this host encodes its share of the context while
     * exchanging KV blocks with the other hosts of the ring. The session is not re-sent on its own
     * if the host loses it later: phase 2 then fails naming the host, and the next encode runs the
     * ring again.
     */
    private void encodeRing(EncodeTask.RingLink link, int[] tokens, int[] positions, ProgressListener progress) {
        Ring.Builder rb = Ring.newBuilder();
        for (ContextHost h : link.members()) {
            if (!(h instanceof RemoteContextHost r)) {
                throw new IllegalArgumentException("a ring over the network needs remote hosts only, not " + h.name());
            }
            rb.addPeers(r.address);
        }
        if (link.spans() != null) {
            for (int[] span : link.spans()) rb.addSpans(span == null ? KeySpan.newBuilder().setFirst(1) : KeySpan.newBuilder().setFirst(span[0]).setLast(span[1]));
        }
        String id = startLinkedRun(link.ringId());
        KvType k = kvTypeK, v = kvTypeV;
        String newHash = ringHash(link.index(), rb.getPeersList(), tokens, positions, k, v);
        rb.setHostIndex(link.index())
                .setWire(options.wire())
                .setPeerTimeoutMs(options.callTimeout().toMillis())
                .setRingId(link.ringId());
        Block.Builder share = Block.newBuilder().setIndex(link.index());
        for (int t : tokens) share.addTokens(t);
        for (int p : positions) share.addPositions(p);
        encodeLinked(id, newHash, k, v, request(id, newHash, options.reuse(), k, v).addBlocks(share).setRing(rb).build(), progress);
    }

    /**
     * Star-pass phase 1 ({@code Encode} with its {@code star_pass}): this host encodes its blocks while taking the
     * earlier hosts' passing rows and giving its own to the later ones, layer by layer. Like a ring session, the
     * session depends on the other hosts: it is not re-sent on its own, and the next encode runs the whole run again.
     */
    private void encodePass(List<BlockTask> blocks, EncodeTask.PassLink link, ProgressListener progress) {
        StarPass.Builder pb = StarPass.newBuilder();
        for (ContextHost h : link.members()) {
            if (!(h instanceof RemoteContextHost r)) {
                throw new IllegalArgumentException("star-pass over the network needs remote hosts only, not " + h.name());
            }
            pb.addPeers(r.address);
        }
        String id = startLinkedRun(link.runId());
        KvType k = kvTypeK, v = kvTypeV;
        String newHash = "star-pass " + link.runId() + " " + link.index();
        pb.setRunId(link.runId()).setHostIndex(link.index())
                .setWire(options.wire())
                .setPeerTimeoutMs(options.callTimeout().toMillis())
                .setPassTokens(link.rule().tokens())
                .setWindow(link.rule().window())
                .setSkipBelow(link.rule().skipBelow());
        EncodeRequest.Builder rb = request(id, newHash, options.reuse(), k, v).setPrefillChunk(options.prefillChunk()).setStarPass(pb);
        for (BlockTask b : blocks) rb.addBlocks(block(b));
        encodeLinked(id, newHash, k, v, rb.build(), progress);
    }

    /**
     * Readies this host for a run that depends on the other hosts (ring, star-pass) and returns its session id:
     * the named session, else a fresh one for the run. Such a run is cancelled through the cluster
     * (Cluster#phase1Failed), never by cancelEncode: a cancellation left from a star run that had already ended
     * here must not stop it.
     */
    private String startLinkedRun(String runId) {
        cancelled = null;
        String named = options.session();
        if (sessionId != null && named == null) clear();
        detach();
        cluster.checkHealth(this); // wakes a reconnecting channel and fails fast on a dead host
        return named != null ? named : "ctx-" + runId;
    }

    /**
     * Sends a ring or star-pass {@code Encode} and takes its answer. A fresh session that fails is released
     * on the host; the session cannot be rebuilt by this host alone, so it is never re-sent on its own.
     * The host's {@code PassKv} traffic counts into its phase-1 bytes.
     */
    private void encodeLinked(String id, String newHash, KvType k, KvType v, EncodeRequest req, ProgressListener progress) {
        boolean named = options.session() != null;
        long[] received = new long[1];
        EncodeDone done;
        freshSession = false;
        try {
            done = phase1(s -> s.encode(req), progress, received);
        } catch (RuntimeException e) {
            if (!named) abandon(id);
            throw e;
        }
        freshSession = !named;
        this.sessionId = id;
        this.blocks = null;
        this.hash = newHash;
        this.encodedK = k;
        this.encodedV = v;
        took(done);
        stats.phase1BytesReceived = req.getSerializedSize() + done.getRingBytesReceived();
        stats.phase1BytesSent = received[0] + done.getRingBytesSent();
    }

    private static Block.Builder block(BlockTask b) {
        Block.Builder bb = Block.newBuilder().setIndex(b.index());
        for (int t : b.tokens()) bb.addTokens(t);
        for (int p : b.positions()) bb.addPositions(p);
        for (int t : b.anchorTokens()) bb.addAnchorTokens(t);
        for (int p : b.anchorPositions()) bb.addAnchorPositions(p);
        return bb;
    }

    private void took(EncodeDone done) {
        this.kvTokens = done.getKvTokens();
        this.kvBytes = done.getKvBytes();
        this.lastReused = done.getReused();
        stats.blocks = done.getBlocks();
        stats.tokens = done.getTokens();
        stats.phase1Nanos = done.getPhase1Nanos();
        stats.phase1WaitNanos = done.getWaitNanos();
        stats.phase1LinearFlops = done.getLinearFlops();
        stats.phase1AttentionFlops = done.getAttentionFlops();
        stats.cacheHits = done.getCacheHits();
        stats.cacheMisses = done.getCacheMisses();
    }

    static String ringHash(int index, List<String> peers, int[] tokens, int[] positions, KvType k, KvType v) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(("ring " + index + " " + peers + " " + tokens.length + kvSuffix(k, v) + "\n")
                    .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            ByteBuffer buf = ByteBuffer.allocate(8 * tokens.length);
            for (int i = 0; i < tokens.length; i++) buf.putInt(tokens[i]).putInt(positions[i]);
            md.update(buf.flip());
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Runs one phase-1 streaming call tied to the cluster (a failure here cancels the other hosts'
     * phase 1; theirs cancels this one) and returns its result; adds the bytes streamed back to {@code received[0]}.
     */
    private EncodeDone phase1(java.util.function.Function<ContextHostServiceGrpc.ContextHostServiceBlockingStub, Iterator<EncodeProgress>> call,
                              ProgressListener progress, long[] received) {
        Context.CancellableContext ctx = Context.current().withCancellation();
        cluster.phase1Started(ctx);
        activePhase1 = ctx;
        String why = cancelled;  // a cancellation that came before the call existed
        if (why != null) cluster.cancelPhase1(ctx, why);
        EncodeDone done = null;
        try {
            Context prev = ctx.attach();
            try {
                Iterator<EncodeProgress> it = call.apply(stub.withDeadlineAfter(options.encodeTimeout().toMillis(), TimeUnit.MILLISECONDS));
                while (it.hasNext()) {
                    EncodeProgress m = it.next();
                    received[0] += m.getSerializedSize();
                    if (m.hasBlockDone()) {
                        progress.blockDone(address, m.getBlockDone().getDone(), m.getBlockDone().getTotal(), m.getBlockDone().getTokens());
                    } else if (m.hasDone()) {
                        done = m.getDone();
                    }
                }
            } finally {
                ctx.detach(prev);
            }
        } catch (StatusRuntimeException e) {
            String siblingFailure = cluster.cancellationReason(ctx);
            if (siblingFailure != null) throw new IllegalStateException(siblingFailure, e);
            IllegalStateException failure = cluster.failure(address, e, "phase 1", options.encodeTimeout());
            cluster.phase1Failed(ctx, failure.getMessage());
            throw failure;
        } finally {
            activePhase1 = null;
            cluster.phase1Ended(ctx);
            ctx.cancel(null);
        }
        if (done == null) throw new IllegalStateException("context host " + address + " failed: phase 1 ended without its result");
        return done;
    }

    @Override
    public Partial attend(int layer, float[] q, int rows, int[] qPos) {
        return startAttend(layer, q, rows, qPos).await();
    }

    /**
     * Sends the layer's queries and returns at once; {@link PendingPartial#await} waits for the
     * answer (the call's deadline bounds the wait). The answer is taken on the transport thread
     * (the call's executor is direct), which completes a future and so wakes the waiting query
     * host without another hop. With {@link ClusterOptions.Phase2Rpc#STREAM} the query travels on
     * this host's phase-2 stream (opened on first use, kept until the session is cleared or the
     * stream breaks); with {@code UNARY}, as one {@code Attend} call of its own.
     */
    @Override
    public PendingPartial startAttend(int layer, float[] q, int rows, int[] qPos) {
        String id = sessionId;
        if (id == null) throw new IllegalStateException("context host " + address + " holds no encoded context");
        Wire wire = options.wire();
        AttendRequest.Builder rb = AttendRequest.newBuilder().setSessionId(id).setLayer(layer).setRows(rows).setWire(wire)
                .setQ(WireCodec.encode(q.length == rows * heads * headDim ? q : java.util.Arrays.copyOf(q, rows * heads * headDim), wire));
        for (int p : qPos) rb.addQPos(p);
        AttendRequest req = rb.build();
        if (cluster.reconnecting(this)) {
            // A host whose connection failed before (it died, and may have restarted since): dial it
            // again, within the call deadline, instead of failing on the channel's reconnect backoff.
            return () -> {
                cluster.checkHealth(this);
                AttendReply r;
                try {
                    r = call(req);
                } catch (StatusRuntimeException e) {
                    r = recover(e, id, req);
                }
                return partial(r, rows, wire);
            };
        }
        long deadline = System.nanoTime() + options.callTimeout().toNanos();
        Future<AttendReply> f = send(req);
        return new PendingPartial() {
            @Override
            public Partial await() {
                AttendReply r;
                try {
                    r = waitFor(f, deadline);
                } catch (StatusRuntimeException e) {
                    r = recover(e, id, req);
                }
                return partial(r, rows, wire);
            }

            @Override
            public void cancel() {
                f.cancel(true);
            }
        };
    }

    /** Sends one phase-2 request on the stream or as a unary call; its answer completes the future on the transport thread. */
    private Future<AttendReply> send(AttendRequest req) {
        if (options.phase2() == ClusterOptions.Phase2Rpc.UNARY) {
            return futureStub.withDeadlineAfter(options.callTimeout().toMillis(), TimeUnit.MILLISECONDS).attend(req);
        }
        Phase2Stream s = phase2Stream;
        if (s == null || s.broken != null) {
            synchronized (this) {
                s = phase2Stream;
                if (s == null || s.broken != null) phase2Stream = s = new Phase2Stream();
            }
        }
        return s.send(req);
    }

    /**
     * Waits for an answer until {@code deadline} (System.nanoTime); a failure becomes the call's
     * {@link StatusRuntimeException}. On the stream, the deadline is enforced here: when it
     * passes, the stream is cancelled (the host sees its work cancelled) and the next request opens
     * a new one.
     */
    private AttendReply waitFor(Future<AttendReply> f, long deadline) {
        try {
            AttendReply r = f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (r.getErrorCode() != 0) {
                throw Status.fromCodeValue(r.getErrorCode()).withDescription(r.getError().isEmpty() ? null : r.getError())
                        .asRuntimeException();
            }
            return r;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException sre) throw sre;
            throw new IllegalStateException("context host " + address + " failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            f.cancel(true);
            Phase2Stream s = phase2Stream;
            if (s != null) s.cancel("no answer within the phase-2 deadline");
            throw Status.DEADLINE_EXCEEDED.withDescription("no answer within the deadline").asRuntimeException();
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for context host " + address, e);
        } catch (java.util.concurrent.CancellationException e) {
            throw new IllegalStateException("context host " + address + " failed: the phase-2 call was cancelled", e);
        }
    }

    /** This host's phase-2 stream, or null before the first request (and after it broke or was closed). */
    private volatile Phase2Stream phase2Stream;

    /**
     * One {@code AttendStream}: requests carry a seq, answers complete the future of their seq on
     * the transport thread. A stream that ends (the host died, the client cancelled it after a
     * deadline) fails every request still waiting on it and is replaced by the next request.
     */
    private final class Phase2Stream implements ClientResponseObserver<AttendRequest, AttendReply> {
        private final java.util.Map<Long, CompletableFuture<AttendReply>> waiting = new java.util.concurrent.ConcurrentHashMap<>();
        private final java.util.concurrent.atomic.AtomicLong seq = new java.util.concurrent.atomic.AtomicLong();
        private ClientCallStreamObserver<AttendRequest> requests;
        private String sentSession = "";  // the session id the host holds for this stream (guarded by this)
        volatile Throwable broken;

        Phase2Stream() {
            asyncStub.attendStream(this);
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<AttendRequest> r) {
            this.requests = r;
        }

        Future<AttendReply> send(AttendRequest req) {
            long n = seq.incrementAndGet();
            CompletableFuture<AttendReply> f = new CompletableFuture<>();
            waiting.put(n, f);
            f.whenComplete((r, t) -> waiting.remove(n, f)); // also when the query host gives up on it
            synchronized (this) {
                if (broken == null) {
                    // The session id travels once per stream (and again only if it changes): the host keeps the last one.
                    AttendRequest.Builder b = req.toBuilder().setSeq(n);
                    if (req.getSessionId().equals(sentSession)) b.clearSessionId();
                    else sentSession = req.getSessionId();
                    requests.onNext(b.build());
                }
            }
            Throwable b = broken;
            if (b != null) f.completeExceptionally(b);
            return f;
        }

        @Override
        public void onNext(AttendReply r) {
            CompletableFuture<AttendReply> f = waiting.get(r.getSeq());
            if (f != null) f.complete(r);
        }

        @Override
        public void onError(Throwable t) {
            end(t instanceof StatusRuntimeException ? t : Status.fromThrowable(t).asRuntimeException());
        }

        @Override
        public void onCompleted() {
            end(Status.UNAVAILABLE.withDescription("the host ended the phase-2 stream").asRuntimeException());
        }

        private void end(Throwable t) {
            synchronized (this) {
                if (broken == null) broken = t;
            }
            for (CompletableFuture<AttendReply> f : waiting.values()) f.completeExceptionally(t);
        }

        /** Gives up on the stream: the host sees it cancelled; requests still waiting fail. */
        void cancel(String why) {
            synchronized (this) {
                if (broken != null) return;
                broken = Status.CANCELLED.withDescription(why).asRuntimeException();
                requests.cancel(why, null);
            }
            end(broken);
        }

        /** Ends the stream normally (the session is done). */
        void close() {
            synchronized (this) {
                if (broken != null) return;
                broken = Status.CANCELLED.withDescription("the phase-2 stream was closed").asRuntimeException();
                requests.onCompleted();
            }
            end(broken);
        }
    }

    /** Closes the phase-2 stream, if one is open (the session it served is done). */
    private void closeStream() {
        Phase2Stream s;
        synchronized (this) {
            s = phase2Stream;
            phase2Stream = null;
        }
        if (s != null) s.close();
    }

    /** A failed phase-2 call: a host that lost the session (restart, expiry) is sent its blocks again and asked once more. */
    private AttendReply recover(StatusRuntimeException e, String id, AttendRequest req) {
        if (e.getStatus().getCode() == Status.Code.NOT_FOUND && blocks != null && !blocks.isEmpty()) {
            cluster.checkHealth(this);
            encode(id, hash, blocks, encodedK, encodedV, false, ProgressListener.NONE);
            try {
                return call(req);
            } catch (StatusRuntimeException again) {
                throw cluster.failure(address, again, "phase 2", options.callTimeout());
            }
        }
        throw cluster.failure(address, e, "phase 2", options.callTimeout());
    }

    private Partial partial(AttendReply r, int rows, Wire wire) {
        int n = rows * heads;
        if (r.getRows() != rows || r.getHeads() != heads || r.getHeadDim() != headDim) {
            throw new IllegalStateException("context host " + address + " failed: it answered " + r.getRows() + "x"
                    + r.getHeads() + "x" + r.getHeadDim() + " for a " + rows + "x" + heads + "x" + headDim + " query");
        }
        float[] out = WireCodec.decode(r.getOut(), wire, n * headDim, "context host " + address + "'s partial output");
        float[] lse = WireCodec.decode(r.getLse(), Wire.F32, n, "context host " + address + "'s log-sum-exp");
        stats.phase2Nanos += r.getNanos();
        stats.phase2AttentionFlops += dev.starattn.attention.AttentionKernel.flops(r.getPairs(), 1, headDim);
        return new Partial(rows, heads, headDim, out, lse, r.getPairs());
    }

    /** The query as encoded on the wire: f32 or bf16 per {@code --wire}. */
    @Override
    public long queryWireBytes(long values) {
        return values * (options.wire() == Wire.BF16 ? 2 : Float.BYTES);
    }

    /** The partial as encoded on the wire: out in f32 or bf16 per {@code --wire}, lse always f32. */
    @Override
    public long partialWireBytes(Partial p) {
        return (long) p.out().length * (options.wire() == Wire.BF16 ? 2 : Float.BYTES) + (long) p.lse().length * Float.BYTES;
    }

    /** One phase-2 request, waited for within the call deadline. */
    private AttendReply call(AttendRequest req) {
        long deadline = System.nanoTime() + options.callTimeout().toNanos();
        return waitFor(send(req), deadline);
    }

    @Override
    public int kvTokens() {
        return kvTokens;
    }

    @Override
    public long kvBytes() {
        return kvBytes;
    }

    /** Frees this host's session (best effort: a host that is gone frees it when it restarts or by its TTL). */
    @Override
    public void clear() {
        closeStream();
        String id = sessionId;
        sessionId = null;
        blocks = null;
        hash = null;
        kvTokens = 0;
        kvBytes = 0;
        if (id == null) return;
        try {
            stub.withDeadlineAfter(options.callTimeout().toMillis(), TimeUnit.MILLISECONDS)
                    .release(ReleaseRequest.newBuilder().setSessionId(id).build());
        } catch (StatusRuntimeException e) {
            // Nothing to do: the session expires on the host by its time to live.
        }
    }

    /** Forgets the session here without asking the host (a named session kept for later requests). */
    public void detach() {
        closeStream();
        sessionId = null;
        blocks = null;
        hash = null;
        kvTokens = 0;
        kvBytes = 0;
    }

    /**
     * The content hash of a star session: its blocks, the prefill chunk and the KV types (a session
     * encoded in one type is never taken for a request asking for another).
     */
    static String hash(List<BlockTask> blocks, int prefillChunk, KvType k, KvType v) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            // f32, the default, adds nothing: an f32 session hashes as its blocks and prefill chunk alone.
            md.update(kvSuffix(k, v).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            buf.putInt(prefillChunk).putInt(blocks.size());
            for (BlockTask b : blocks) {
                buf.putInt(b.index());
                for (int[] a : new int[][] {b.tokens(), b.positions(), b.anchorTokens(), b.anchorPositions()}) {
                    if (buf.remaining() < 4) flush(md, buf);
                    buf.putInt(a.length);
                    for (int x : a) {
                        if (buf.remaining() < 4) flush(md, buf);
                        buf.putInt(x);
                    }
                }
                if (buf.remaining() < 4) flush(md, buf);
            }
            flush(md, buf);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String kvSuffix(KvType k, KvType v) {
        return k == KvType.F32 && v == KvType.F32 ? "" : " kv " + k.cliName() + "/" + v.cliName();
    }

    private static void flush(MessageDigest md, ByteBuffer buf) {
        buf.flip();
        md.update(buf);
        buf.clear();
    }
}
