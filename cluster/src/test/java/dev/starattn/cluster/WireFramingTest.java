package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Star phase 2 on the socket, counted by a relay in front of each host: each generated token costs
 * exactly the payload (per layer and remote host, the query out, the partial and its lse back) plus
 * framing, and the framing stays within {@link #FRAMING_PER_MESSAGE} bytes per message (HTTP/2
 * frame header 9, gRPC prefix 5, the protobuf tags and small fields of AttendRequest/AttendReply;
 * HTTP/2 flow-control and keep-alive frames are spread over these). A query's framing stays within
 * {@link #QUERY_FRAMING}: the session id (40 characters here) travels once per stream, not in every request.
 */
class WireFramingTest extends ClusterFixture {
    static final int FRAMING_PER_MESSAGE = 128;
    static final int QUERY_FRAMING = 48;

    @ParameterizedTest
    @EnumSource(value = Wire.class, names = {"F32", "BF16"})
    void decodeBytesOnTheSocketArePayloadPlusBoundedFraming(Wire wire) throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        CountingProxy p1 = new CountingProxy(s1.port()), p2 = new CountingProxy(s2.port());
        toClose.add(p1);
        toClose.add(p2);
        Cluster c = Cluster.connect(List.of(p1.address(), p2.address()), client, fast().withWire(wire));
        toClose.add(c);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        generate(e, ctx, 4); // opens the phase-2 streams; not counted

        long[] a = generateCounting(e, ctx, 4, p1, p2);
        long[] b = generateCounting(e, ctx, 20, p1, p2);
        long tokens = b[2] - a[2];
        assertTrue(tokens >= 10, "the random model stopped early: " + tokens);
        DecoderConfig cfg = client.config();
        int width = wire == Wire.BF16 ? 2 : 4;
        long messages = tokens * cfg.layers() * 2; // per token: every layer, both remote hosts
        long queryPayload = messages * (long) cfg.qDim() * width;
        long partialPayload = messages * ((long) cfg.qDim() * width + (long) cfg.heads() * Float.BYTES);
        long up = b[0] - a[0], down = b[1] - a[1];
        double upFraming = (up - queryPayload) / (double) messages;
        double downFraming = (down - partialPayload) / (double) messages;
        System.out.printf("wire %s: per message, query %d + framing %.1f bytes; partial %d + framing %.1f bytes%n",
                wire, cfg.qDim() * width, upFraming, cfg.qDim() * width + cfg.heads() * 4, downFraming);
        assertTrue(upFraming > 0 && upFraming <= QUERY_FRAMING, "query framing per message " + upFraming
                + " (is the session id sent with every request again?)");
        assertTrue(downFraming > 0 && downFraming <= FRAMING_PER_MESSAGE, "partial framing per message " + downFraming);
        ctx.release();
    }

    static GenerationResult generate(InferenceEngine e, EncodedContext ctx, int n) {
        GenerationResult r = e.generate(ctx, query, SamplingOptions.greedy(), n, t -> false, t -> {});
        assertEquals("length", r.stopReason(), "generation must run to its length");
        return r;
    }

    /** Bytes up, bytes down (both relays) and tokens of one generation. */
    static long[] generateCounting(InferenceEngine e, EncodedContext ctx, int n, CountingProxy... relays) {
        long up0 = 0, down0 = 0;
        for (CountingProxy p : relays) {
            up0 += p.up.get();
            down0 += p.down.get();
        }
        GenerationResult r = generate(e, ctx, n);
        long up = -up0, down = -down0;
        for (CountingProxy p : relays) {
            up += p.up.get();
            down += p.down.get();
        }
        return new long[] {up, down, r.tokens().length};
    }
}
