package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;
import static dev.starattn.cluster.Statuses.toStatus;

import dev.starattn.cluster.proto.BlockDone;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.function.Consumer;

/**
 * What ring and star-pass phase 1 share on a host, around the layers each runs with its peers: the run's
 * {@link RingMailbox} claimed for this call (a second {@code Encode} of the same run is refused), failed when the
 * client cancels (which wakes this host's waits for its peers) and removed afterwards; a failed run drops the
 * half-encoded session and fails the call; a finished one publishes the session with its stats.
 */
final class PeerRun {
    private PeerRun() {}

    /** One host's part of a run, given the run's mailbox; it answers the call through {@link #publish} when it succeeds. */
    interface Body {
        void run(RingMailbox box) throws Exception;
    }

    /** Runs {@code body} for session {@code s} (fresh from {@link SessionStore#open}) as part of run {@code runId}; {@code kind}: "ring", "star-pass". */
    static void run(RingMailboxes mailboxes, SessionStore sessions, Consumer<String> log, Session s, String runId, String kind,
                    StreamObserver<EncodeProgress> obs, Body body) {
        RingMailbox box = mailboxes.of(runId);
        Context ctx = Context.current();
        Context.CancellationListener onCancel = c -> box.fail("the client cancelled phase 1 or its deadline passed");
        ctx.addListener(onCancel, Runnable::run);
        try {
            if (!box.claim()) throw error(Status.FAILED_PRECONDITION, kind + " run " + runId + " already runs on this host");
            body.run(box);
        } catch (Throwable t) {
            sessions.discard(s);
            log.accept("session " + s.id + ": " + kind + " phase 1 failed: " + toStatus(t).getDescription());
            obs.onError(toStatus(t).asRuntimeException());
        } finally {
            ctx.removeListener(onCancel);
            mailboxes.remove(runId, box);
        }
    }

    /**
     * Answers a finished run: progress (all of {@code blocks} done, {@code tokens} kept), the session published with
     * {@code done} (its stats and the run's PassKv traffic), the call completed.
     */
    static void publish(SessionStore sessions, Session s, int blocks, int tokens, EncodeDone done, StreamObserver<EncodeProgress> obs) {
        obs.onNext(EncodeProgress.newBuilder()
                .setBlockDone(BlockDone.newBuilder().setDone(blocks).setTotal(blocks).setTokens(tokens)).build());
        sessions.publish(s, done);
        obs.onNext(EncodeProgress.newBuilder().setDone(done).build());
        obs.onCompleted();
    }
}
