package dev.starattn.cluster;

import static dev.starattn.cluster.RequestDecoding.ints;

import dev.starattn.attention.Partial;
import dev.starattn.cluster.proto.AttendReply;
import dev.starattn.cluster.proto.AttendRequest;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;

/** Phase 2 on this host: one query's attention over a session's KV, and whether it is small enough to answer on the transport thread. */
final class SessionAttention {
    /**
     * Most multiply-adds of Q.K (rows x KV tokens x query dim) an {@code Attend} may cost to be
     * answered on the transport thread (about half a millisecond here); larger ones go to the worker pool.
     */
    static final long INLINE_ATTEND_WORK = 1L << 21;

    private final LoadedModel model;
    private final SessionStore sessions;
    private final HostHooks hooks;

    SessionAttention(LoadedModel model, SessionStore sessions, HostHooks hooks) {
        this.model = model;
        this.sessions = sessions;
        this.hooks = hooks;
    }

    /** True when the request is answered on the transport thread (see {@link #INLINE_ATTEND_WORK}). */
    boolean inline(Session s, AttendRequest req) {
        long work = (long) Math.max(0, req.getRows()) * s.host.kvTokens() * model.config().qDim();
        return work <= INLINE_ATTEND_WORK && hooks.attend == HostHooks.NONE;
    }

    /** One phase-2 request answered over {@code s} (acquired from the store); releases the session's in-use mark whatever happens. */
    AttendReply attend(Session s, AttendRequest req) {
        try {
            hooks.attend.accept(req.getLayer());
            DecoderConfig c = model.config();
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
            sessions.release(s);
        }
    }
}
