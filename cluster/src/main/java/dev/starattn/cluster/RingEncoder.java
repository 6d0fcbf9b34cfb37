package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.starattn.attention.KvCache;
import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.PassKvReply;
import dev.starattn.cluster.proto.PassKvRequest;
import dev.starattn.cluster.proto.Ring;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.RingHost;
import dev.starattn.engine.RingReach;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Ring phase 1 on this host: encodes its share of the context layer by layer, passing KV blocks
 * round the ring to its successor and taking its predecessor's from a {@link RingMailbox}, then
 * publishes the session; on failure (the client cancelled, a peer died) the session is dropped.
 */
final class RingEncoder {
    private final LoadedModel model;
    private final SessionStore sessions;
    private final RingMailboxes mailboxes;
    private final PeerChannels peers;
    private final HostHooks hooks;
    private final Consumer<String> log;

    RingEncoder(LoadedModel model, SessionStore sessions, RingMailboxes mailboxes, PeerChannels peers, HostHooks hooks,
                Consumer<String> log) {
        this.model = model;
        this.sessions = sessions;
        this.mailboxes = mailboxes;
        this.peers = peers;
        this.hooks = hooks;
        this.log = log;
    }

    /** Encodes the ring share ({@code tokens} at {@code positions}) into {@code s} (fresh from {@link SessionStore#open}) and answers the call. */
    void encode(Session s, EncodeRequest req, int[] tokens, int[] positions, StreamObserver<EncodeProgress> obs) {
        PeerRun.run(mailboxes, sessions, log, s, req.getRing().getRingId(), "ring", obs, box -> ringInto(s, req, tokens, positions, box, obs));
    }

    /**
     * This host's part of ring phase 1. Per layer: own Q, K, V and own attention; the own block
     * goes to the successor; each block from the predecessor is forwarded (unless it has
     * visited every host, or in a sliding-window layer every host further on that sees it: {@link RingReach})
     * and then merged in; then the layer is finished. Every host computes the same reach from the
     * ring's key spans, so a host waits only for the blocks its predecessor sends.
     */
    private void ringInto(Session s, EncodeRequest encode, int[] tokens, int[] positions, RingMailbox box,
                          StreamObserver<EncodeProgress> obs) throws InterruptedException {
        Ring req = encode.getRing();
        Context ctx = Context.current();
        Deadline deadline = ctx.getDeadline();
        DecoderConfig c = model.config();
        int hosts = req.getPeersCount(), me = req.getHostIndex();
        String succ = req.getPeers((me + 1) % hosts), pred = req.getPeers((me - 1 + hosts) % hosts);
        Wire wire = req.getWire() == Wire.BF16 ? Wire.BF16 : Wire.F32;
        log.accept("session " + s.id + ": ring phase 1, host " + me + " of " + hosts + ", " + tokens.length + " token(s)");
        if (hosts > 1) peers.connect(succ, req.getPeerTimeoutMs() > 0 ? req.getPeerTimeoutMs() : 10_000);
        RingHost ring = new RingHost(model.model(), s.host, tokens, positions);
        int[][] spans = RequestDecoding.ringSpans(req);
        long sent = 0;
        // Sends are asynchronous, so a block travels to the successor while this host attends to
        // it; they are awaited at the end of each layer (at most hosts - 1 blocks in flight).
        List<ListenableFuture<PassKvReply>> sends = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            KvCache own = ring.beginLayer(l);
            int[] reach = RingReach.of(model.model().attentionLimits(l), spans, hosts);
            if (reach[me] >= 1) sent += pass(encode, succ, l, 1, me, own, wire, sends, box);
            for (int step = 1; step < hosts; step++) {
                int origin = (me - step + hosts) % hosts;
                if (step > reach[origin]) continue;  // that block stopped before it got here
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
                if (step + 1 <= reach[origin]) sent += pass(encode, succ, l, step + 1, origin, block, wire, sends, box);
                ring.visit(block);
            }
            awaitSends(sends, succ);
            ring.endLayer();
            hooks.encode.accept(l + 1);
            if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
        }
        EncodeDone done = s.encodedStats()
                .setRingBytesSent(sent)
                .setRingBytesReceived(box.bytesReceived())
                .build();
        PeerRun.publish(sessions, s, 1, tokens.length, done, obs);
    }

    /**
     * Starts sending one KV block to the successor (its future joins {@code sends}); returns the
     * bytes sent. A failed send wakes this host's wait for its predecessor's next block, which
     * might otherwise wait out the deadline for a ring that the dead successor has broken.
     */
    private long pass(EncodeRequest encode, String succ, int layer, int step, int origin, KvCache block, Wire wire,
                      List<ListenableFuture<PassKvReply>> sends, RingMailbox box) {
        PassKvRequest r = KvBlockWire.toRequest(encode, layer, step, origin, block, wire);
        return sendKv(peers, succ, r, encode.getRing().getPeerTimeoutMs(), sends, box, "a KV block could not be passed on to " + succ);
    }

    /**
     * Starts sending {@code r} to {@code peer} (ring blocks and star-pass rows alike); returns its bytes.
     * Called on the handler's thread: the call inherits its deadline and cancellation. A failed send
     * fails {@code box} with {@code failure}, waking this host's waits.
     */
    static long sendKv(PeerChannels peers, String peer, PassKvRequest r, long timeoutMs, List<ListenableFuture<PassKvReply>> sends,
                       RingMailbox box, String failure) {
        var stub = ContextHostServiceGrpc.newFutureStub(peers.channel(peer));
        if (timeoutMs > 0) stub = stub.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS);
        ListenableFuture<PassKvReply> f = stub.passKv(r);
        f.addListener(() -> {
            try {
                f.get();
            } catch (Exception failed) {
                box.fail(failure);
            }
        }, MoreExecutors.directExecutor());
        sends.add(f);
        return r.getSerializedSize();
    }

    /** Waits until the successor has taken every block sent so far; a refusal fails the ring run. */
    static void awaitSends(List<ListenableFuture<PassKvReply>> sends, String succ) throws InterruptedException {
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
}
