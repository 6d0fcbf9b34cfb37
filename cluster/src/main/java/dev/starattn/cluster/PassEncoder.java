package dev.starattn.cluster;

import com.google.common.util.concurrent.ListenableFuture;
import dev.starattn.attention.KvCache;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.PassKvReply;
import dev.starattn.cluster.proto.PassKvRequest;
import dev.starattn.cluster.proto.StarPass;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodeTask.PassRule;
import dev.starattn.engine.PassHost;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.Consumer;

/**
 * Star-pass phase 1 on this host ({@link PassHost}): its blocks layer by layer; at every layer the rows they pass go
 * to every later host and the earlier hosts' rows are taken from a {@link RingMailbox} (keyed by layer and
 * {@link #PASS_STEP_BASE} + origin, so a run's rows never meet a ring's steps), then the session is published; on
 * failure (the client cancelled, a peer died) it is dropped.
 */
final class PassEncoder {
    /** The PassKv step of the rows host {@code i} passes is this plus {@code i}. */
    static final int PASS_STEP_BASE = 1 << 20;

    private final LoadedModel model;
    private final SessionStore sessions;
    private final RingMailboxes mailboxes;
    private final PeerChannels peers;
    private final HostHooks hooks;
    private final Consumer<String> log;

    PassEncoder(LoadedModel model, SessionStore sessions, RingMailboxes mailboxes, PeerChannels peers, HostHooks hooks, Consumer<String> log) {
        this.model = model;
        this.sessions = sessions;
        this.mailboxes = mailboxes;
        this.peers = peers;
        this.hooks = hooks;
        this.log = log;
    }

    /** Encodes {@code blocks} into {@code s} (fresh from {@link SessionStore#open}) with the other hosts of the run, and answers the call. */
    void encode(Session s, EncodeRequest req, List<BlockTask> blocks, StreamObserver<EncodeProgress> obs) {
        PeerRun.run(mailboxes, sessions, log, s, req.getStarPass().getRunId(), "star-pass", obs, box -> passInto(s, req, blocks, box, obs));
    }

    private void passInto(Session s, EncodeRequest encode, List<BlockTask> blocks, RingMailbox box, StreamObserver<EncodeProgress> obs)
            throws InterruptedException {
        StarPass req = encode.getStarPass();
        Context ctx = Context.current();
        Deadline deadline = ctx.getDeadline();
        DecoderConfig c = model.config();
        int hosts = req.getPeersCount(), me = req.getHostIndex();
        Wire wire = req.getWire() == Wire.BF16 ? Wire.BF16 : Wire.F32;
        long timeout = req.getPeerTimeoutMs() > 0 ? req.getPeerTimeoutMs() : 10_000;
        log.accept("session " + s.id + ": star-pass phase 1, host " + me + " of " + hosts + ", " + blocks.size() + " block(s)");
        for (int j = me + 1; j < hosts; j++) peers.connect(req.getPeers(j), timeout);
        PassHost pass = new PassHost(model.model(), s.host, blocks, new PassRule(req.getPassTokens(), req.getWindow(), req.getSkipBelow()));
        long sent = 0, waited = 0;
        List<ListenableFuture<PassKvReply>> sends = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            KvCache own = pass.beginLayer(l);
            // Sent first (asynchronously), so the later hosts can go on while this one waits and attends.
            for (int j = me + 1; j < hosts; j++) sent += send(encode, req, req.getPeers(j), l, me, own, wire, sends, box);
            long w0 = System.nanoTime();
            KvCache earlier = null;
            for (int j = 0; j < me; j++) {
                KvCache rows;
                try {
                    rows = box.take(l, PASS_STEP_BASE + j, deadline, req.getPeers(j));
                } catch (CancellationException woken) {
                    RingEncoder.awaitSends(sends, "host");
                    throw woken;
                }
                if (rows.size() == 0) continue;
                if (earlier == null) earlier = new KvCache(c.kvHeads(), c.headDim(), rows.size() * (me - j), s.kvTypeK, s.kvTypeV);
                // Rows that travelled as f32 or bf16 values are stored in the session's types, as the sender holds them.
                if (rows.keyType() == s.kvTypeK && rows.valueType() == s.kvTypeV) earlier.appendAll(rows);
                else earlier.append(rows.keys(), rows.values(), 0, rows.size(), rows.positions(), 0);
            }
            if (me > 0) waited += System.nanoTime() - w0;
            pass.endLayer(earlier);
            RingEncoder.awaitSends(sends, "a later host");
            hooks.encode.accept(l + 1);
            if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
        }
        EncodeDone done = s.encodedStats()
                .setRingBytesSent(sent)
                .setRingBytesReceived(box.bytesReceived())
                .setWaitNanos(waited)
                .build();
        PeerRun.publish(sessions, s, blocks.size(), s.host.stats().tokens, done, obs);
    }

    /** Starts sending this host's rows of {@code layer} to {@code peer}; returns the bytes sent. A failed send wakes this host's waits. */
    private long send(EncodeRequest encode, StarPass req, String peer, int layer, int me, KvCache rows, Wire wire,
                      List<ListenableFuture<PassKvReply>> sends, RingMailbox box) {
        PassKvRequest r = KvBlockWire.toRequest(encode.getSessionId(), req.getRunId(), layer, PASS_STEP_BASE + me, me, rows, wire);
        return RingEncoder.sendKv(peers, peer, r, req.getPeerTimeoutMs(), sends, box, "passing rows could not be sent to " + peer);
    }
}
