package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;
import static dev.starattn.cluster.Statuses.toStatus;

import dev.starattn.cluster.proto.AttendReply;
import dev.starattn.cluster.proto.AttendRequest;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Phase 2 over one stream ({@code AttendStream}): each request is answered by one reply with its
 * seq; a failed request is answered in-band and the stream stays open. Flow control: the next
 * request is read only after the previous one is answered (one request in flight per stream, so a
 * client that sends ahead is held back by HTTP/2's window, not by memory here). Small requests are
 * answered on the transport thread that read them, larger ones on the worker pool in the stream's
 * context (a cancelled stream is seen by the work).
 */
final class AttendStream implements StreamObserver<AttendRequest> {
    private final ServerCallStreamObserver<AttendReply> obs;
    private final SessionStore sessions;
    private final SessionAttention attention;
    private final Executor worker;
    private final Object lock = new Object();
    /** Guarded by {@code lock}. */
    private boolean answering, halfClosed;
    // A request names its session only when it differs from the stream's previous one (the client sends it once).
    private String streamSession = "";

    private AttendStream(ServerCallStreamObserver<AttendReply> obs, SessionStore sessions, SessionAttention attention,
                         Executor worker) {
        this.obs = obs;
        this.sessions = sessions;
        this.attention = attention;
        this.worker = worker;
    }

    /** Takes over the call's replies and asks for its first request. */
    static AttendStream open(StreamObserver<AttendReply> out, SessionStore sessions, SessionAttention attention, Executor worker) {
        ServerCallStreamObserver<AttendReply> obs = (ServerCallStreamObserver<AttendReply>) out;
        obs.disableAutoRequest();
        // A reply after the client cancelled (it gave up on a request) is dropped, not an error.
        obs.setOnCancelHandler(() -> {});
        AttendStream stream = new AttendStream(obs, sessions, attention, worker);
        obs.request(1);
        return stream;
    }

    @Override
    public void onNext(AttendRequest req) {
        synchronized (lock) {
            answering = true;
        }
        if (!req.getSessionId().isEmpty()) streamSession = req.getSessionId();
        Session s;
        try {
            if (streamSession.isEmpty()) {
                throw error(Status.INVALID_ARGUMENT, "the first request of a phase-2 stream must name its session");
            }
            s = sessions.acquire(streamSession);
        } catch (StatusRuntimeException e) {
            answer(failed(req.getSeq(), e.getStatus()));
            return;
        }
        Runnable work = () -> {
            AttendReply r;
            try {
                r = attention.attend(s, req).toBuilder().setSeq(req.getSeq()).build();
            } catch (Throwable t) {
                r = failed(req.getSeq(), toStatus(t));
            }
            answer(r);
        };
        if (attention.inline(s, req)) {
            work.run();
        } else {
            try {
                worker.execute(Context.current().wrap(work));
            } catch (RejectedExecutionException e) {
                sessions.release(s);
                answer(failed(req.getSeq(), Status.UNAVAILABLE.withDescription("the host is shutting down")));
            }
        }
    }

    private void answer(AttendReply r) {
        boolean end;
        synchronized (lock) {
            answering = false;
            end = halfClosed;
            obs.onNext(r);
            if (end) obs.onCompleted();
        }
        if (!end) obs.request(1);
    }

    @Override
    public void onError(Throwable t) {
        // The client cancelled or the connection broke: work in flight sees its context cancelled.
        // A client that died will not release its session: it goes after a grace unless used again.
        if (!streamSession.isEmpty()) sessions.orphan(streamSession);
    }

    @Override
    public void onCompleted() {
        synchronized (lock) {
            halfClosed = true;
            if (!answering) obs.onCompleted();
        }
    }

    private static AttendReply failed(long seq, Status st) {
        return AttendReply.newBuilder().setSeq(seq).setErrorCode(st.getCode().value())
                .setError(st.getDescription() == null ? "" : st.getDescription()).build();
    }
}
