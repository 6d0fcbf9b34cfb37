package dev.starattn.cluster;

import static dev.starattn.cluster.RequestDecoding.ints;
import static dev.starattn.cluster.RequestDecoding.kvType;
import static dev.starattn.cluster.Statuses.error;
import static dev.starattn.cluster.Statuses.toStatus;

import dev.starattn.attention.KvCache;
import dev.starattn.cluster.proto.AttendReply;
import dev.starattn.cluster.proto.AttendRequest;
import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.InfoReply;
import dev.starattn.cluster.proto.InfoRequest;
import dev.starattn.cluster.proto.PassKvReply;
import dev.starattn.cluster.proto.PassKvRequest;
import dev.starattn.cluster.proto.ReleaseReply;
import dev.starattn.cluster.proto.ReleaseRequest;
import dev.starattn.engine.BlockTask;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * {@code ContextHostService} over gRPC: each call's request is checked and translated, the work is
 * delegated (sessions to {@link SessionStore}, phase 1 to {@link StarEncoder} / {@link RingEncoder},
 * phase 2 to {@link SessionAttention} and {@link AttendStream}, passed KV blocks to
 * {@link RingMailboxes}), and the result is answered.
 *
 * <p>Threads: calls are taken on the transport's (Netty's) threads. Short ones are answered there:
 * {@code Info}, {@code Release}, and {@code Attend} when its attention is small (one decoded
 * token over a shard of a few thousand tokens), because a hop to another thread and back costs
 * about as much as that attention on a loaded machine. Phase 1 ({@code Encode},
 * {@code PassKv}) and larger {@code Attend} calls run on the worker pool, so that a transport thread
 * is never held for long.
 */
final class ContextHostService extends ContextHostServiceGrpc.ContextHostServiceImplBase {
    private final LoadedModel model;
    private final String identity;
    private final SessionStore sessions;
    private final RingMailboxes mailboxes;
    private final StarEncoder star;
    private final RingEncoder ring;
    private final PassEncoder pass;
    private final SessionAttention attention;
    /** Phase 1 and large phase-2 calls run here, off the transport threads. */
    private final Executor worker;
    private final Consumer<String> log;
    private final AtomicLong attendStreams = new AtomicLong();
    private final AtomicLong passKvCalls = new AtomicLong();

    ContextHostService(LoadedModel model, String identity, SessionStore sessions, RingMailboxes mailboxes, StarEncoder star,
                       RingEncoder ring, PassEncoder pass, SessionAttention attention, Executor worker, Consumer<String> log) {
        this.model = model;
        this.identity = identity;
        this.sessions = sessions;
        this.mailboxes = mailboxes;
        this.star = star;
        this.ring = ring;
        this.pass = pass;
        this.attention = attention;
        this.worker = worker;
        this.log = log;
    }

    /** Phase-2 streams ({@code AttendStream}) opened since start. */
    long attendStreams() {
        return attendStreams.get();
    }

    /** KV blocks and passing rows received from peers ({@code PassKv}) since start. */
    long passKvCalls() {
        return passKvCalls.get();
    }

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
        int n = sessions.size();
        obs.onNext(InfoReply.newBuilder()
                .setFingerprint(identity)
                .setModelName(String.valueOf(model.path().getFileName()))
                .setConfig(model.config().toString())
                .setSessions(n)
                .setKvBytes(sessions.kvBytes())
                .setMemoryBudget(sessions.memoryBudget())
                .setEncodeCalls(sessions.encodeCalls())
                .setVersion("starattn 0.1.0")
                .setProtocol(HostServer.PROTOCOL)
                .build());
        obs.onCompleted();
    }

    @Override
    public void encode(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
        offload(obs, () -> encodeNow(req, obs));
    }

    private void encodeNow(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
        if (req.getProtocol() != HostServer.PROTOCOL) {
            obs.onError(error(Status.FAILED_PRECONDITION, "this host speaks protocol " + HostServer.PROTOCOL + " but the client sent "
                    + (req.getProtocol() == 0 ? "none (a starattn older than this host)" : "protocol " + req.getProtocol())
                    + "; run the same starattn version on the client and every host"));
            return;
        }
        if (req.hasRing()) {
            ringEncodeNow(req, obs);
            return;
        }
        boolean starPass = req.hasStarPass();
        Session s;
        List<BlockTask> blocks;
        try {
            blocks = RequestDecoding.blocks(req, model.config());
            if (starPass) RequestDecoding.checkStarPass(req.getStarPass());
            long tokens = 0;
            for (BlockTask b : blocks) tokens += b.tokens().length;
            s = sessions.open(req.getSessionId(), req.getContentHash(), req.getRequireExisting(), req.getTtlMs(),
                    req.getPrefillChunk(), tokens, kvType(req.getKvTypeKValue(), "keys"),
                    kvType(req.getKvTypeVValue(), "values"), starPass);
        } catch (RuntimeException e) {
            obs.onError(toStatus(e).asRuntimeException());
            return;
        }
        if (s == null) { // reused: answer with what the session holds, no work done now
            answerReused(req, obs);
            return;
        }
        if (starPass) pass.encode(s, req, blocks, obs);
        else star.encode(s, blocks, obs);
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
            RequestDecoding.checkRing(req.getRing(), tokens, positions, model.config());
            s = sessions.open(req.getSessionId(), req.getContentHash(), req.getRequireExisting(), req.getTtlMs(), 0, tokens.length,
                    kvType(req.getKvTypeKValue(), "keys"), kvType(req.getKvTypeVValue(), "values"), true);
        } catch (RuntimeException e) {
            obs.onError(toStatus(e).asRuntimeException());
            return;
        }
        if (s == null) {
            answerReused(req, obs);
            return;
        }
        ring.encode(s, req, tokens, positions, obs);
    }

    private void answerReused(EncodeRequest req, StreamObserver<EncodeProgress> obs) {
        obs.onNext(EncodeProgress.newBuilder().setDone(sessions.reusedDone(req.getSessionId())).build());
        obs.onCompleted();
    }

    @Override
    public void attend(AttendRequest req, StreamObserver<AttendReply> obs) {
        Session s;
        try {
            s = sessions.acquire(req.getSessionId());
        } catch (StatusRuntimeException e) {
            obs.onError(e);
            return;
        }
        Runnable work = () -> {
            AttendReply r;
            try {
                r = attention.attend(s, req);
            } catch (Throwable t) {
                obs.onError(toStatus(t).asRuntimeException());
                return;
            }
            obs.onNext(r);
            obs.onCompleted();
        };
        if (attention.inline(s, req)) work.run();
        else if (!offload(obs, work)) sessions.release(s);
    }

    @Override
    public StreamObserver<AttendRequest> attendStream(StreamObserver<AttendReply> out) {
        attendStreams.incrementAndGet();
        return AttendStream.open(out, sessions, attention, worker);
    }

    @Override
    public void passKv(PassKvRequest req, StreamObserver<PassKvReply> obs) {
        passKvCalls.incrementAndGet();
        offload(obs, () -> passKvNow(req, obs));
    }

    private void passKvNow(PassKvRequest req, StreamObserver<PassKvReply> obs) {
        try {
            KvCache block = KvBlockWire.fromRequest(req, model.config());
            mailboxes.deliver(req.getRingId(), req.getLayer(), req.getStep(), block, req.getSerializedSize());
            obs.onNext(PassKvReply.getDefaultInstance());
            obs.onCompleted();
        } catch (Throwable t) {
            obs.onError(toStatus(t).asRuntimeException());
        }
    }

    @Override
    public void release(ReleaseRequest req, StreamObserver<ReleaseReply> obs) {
        Session s = sessions.remove(req.getSessionId());
        if (s != null) log.accept("session " + s.id + " released");
        obs.onNext(ReleaseReply.newBuilder().setReleased(s != null).build());
        obs.onCompleted();
    }
}
