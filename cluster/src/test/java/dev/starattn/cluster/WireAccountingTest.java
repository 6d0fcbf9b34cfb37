package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The bytes each host reports (HostStats, which {@code generate --json} prints per host) are what
 * the messages hold, computed here from the shapes alone: phase 1, the protobuf size of the
 * {@code EncodeRequest} (token ids and positions of each block and its anchor, as varints) and of
 * the progress stream; phase 2, per layer and query row, the query (qDim values) out and the
 * partial (qDim values plus one f32 lse per head) back, 4 bytes a value in f32 and 2 in bf16.
 */
class WireAccountingTest extends ClusterFixture {
    static int varint(long v) {
        return v == 0 ? 1 : 1 + (63 - Long.numberOfLeadingZeros(v)) / 7;
    }

    /** A scalar field (varint wire type): nothing when 0 (proto3), else tag plus value. */
    static int scalar(int field, long v) {
        return v == 0 ? 0 : varint((long) field << 3) + varint(v);
    }

    /** A length-delimited field (string, bytes, packed ints, message) of {@code len} bytes. */
    static int delimited(int field, int len) {
        return len == 0 ? 0 : varint((long) field << 3) + varint(len) + len;
    }

    static int packed(int field, int[] values) {
        int len = 0;
        for (int v : values) len += varint(v);
        return delimited(field, len);
    }

    static int blockBytes(BlockTask b) {
        return scalar(1, b.index()) + packed(2, b.tokens()) + packed(3, b.positions())
                + packed(4, b.anchorTokens()) + packed(5, b.anchorPositions());
    }

    @ParameterizedTest
    @EnumSource(value = Wire.class, names = {"F32", "BF16"})
    void reportedBytesEqualTheMessageSizes(Wire wire) {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        ClusterOptions o = fast().withWire(wire);
        Cluster c = connect(client, o, s1, s2);
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 3);
        InferenceEngine e = new InferenceEngine(client.model(), opt, c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        run(e, ctx);
        DecoderConfig cfg = client.config();
        List<List<BlockTask>> plan = dev.starattn.engine.strategy.Strategies.STAR.blocks(context, opt);
        int width = wire == Wire.BF16 ? 2 : 4;
        // Phase 2: the 9 query rows in one step, then 5 generated tokens one row each (the 6th is not fed back).
        long rows = 9 + 5;
        long query = rows * cfg.layers() * cfg.qDim() * width;
        long partial = rows * cfg.layers() * ((long) cfg.qDim() * width + (long) cfg.heads() * Float.BYTES);
        long qhSent = 0, qhReceived = 0;
        for (int i = 0; i < 2; i++) {
            RemoteContextHost h = c.hosts().get(i);
            HostStats st = h.stats();
            // Phase 1, client to host: the EncodeRequest.
            int blocks = 0;
            for (BlockTask b : plan.get(i)) blocks += delimited(6, blockBytes(b));
            long request = delimited(1, h.sessionId().length()) + scalar(2, o.sessionTtl().toMillis())
                    + scalar(3, o.prefillChunk()) + delimited(4, 64) + blocks + scalar(10, HostServer.PROTOCOL);
            assertEquals(request, st.phase1BytesReceived, h.address() + " phase 1 received, " + wire);
            // Host to client: one BlockDone per block, then EncodeDone with the figures the client took from it.
            long stream = 0;
            int done = 0;
            for (BlockTask b : plan.get(i)) {
                int blockDone = scalar(1, ++done) + scalar(2, plan.get(i).size()) + scalar(3, b.tokens().length);
                stream += delimited(1, blockDone);
            }
            int encodeDone = scalar(2, st.blocks) + scalar(3, st.tokens) + scalar(4, h.kvTokens()) + scalar(5, h.kvBytes())
                    + scalar(6, st.phase1Nanos) + scalar(7, st.phase1LinearFlops) + scalar(8, st.phase1AttentionFlops)
                    + scalar(9, st.cacheHits) + scalar(10, st.cacheMisses);
            stream += delimited(2, encodeDone);
            assertEquals(stream, st.phase1BytesSent, h.address() + " phase 1 sent, " + wire);
            assertEquals(50, st.tokens);
            // Phase 2.
            assertEquals(query, st.phase2BytesReceived, h.address() + " phase 2 received (queries), " + wire);
            assertEquals(partial, st.phase2BytesSent, h.address() + " phase 2 sent (partials), " + wire);
            qhSent += query;
            qhReceived += partial;
        }
        HostStats qh = ctx.queryHost().stats();
        assertEquals(qhSent, qh.phase2BytesSent, "the query host sent every remote host's queries");
        assertEquals(qhReceived, qh.phase2BytesReceived, "the query host received every remote host's partials");
        ctx.release();
    }
}
