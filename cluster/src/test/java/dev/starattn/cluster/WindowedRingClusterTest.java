package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.testutil.FamilyFixture;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A ring over the network on a model with sliding-window layers (core's Gemma 3 fixture: 6 layers, the
 * first 5 sliding with a window of 8, the last full) stops each block at the last host that sees it, as
 * the in-process ring does: the same logits and fewer blocks on the wire.
 */
class WindowedRingClusterTest extends ClusterFixture {
    /** 60 tokens over 3 hosts: shares [0, 19], [20, 39], [40, 59]. */
    private static final int[] CONTEXT = new Random(11).ints(60, 3, 320).toArray();
    private static final int[] QUERY = {5, 77};

    record Run(float[] logits, long[] passKvCalls, long[] bytesReceived, long[] bytesSent) {}

    private Run remoteRing(Path model) {
        LoadedModel client = load(model);
        HostServer[] servers = {host(HostServer.builder(load(model)).port(0)), host(HostServer.builder(load(model)).port(0)),
            host(HostServer.builder(load(model)).port(0))};
        Cluster c = connect(client, fast(), servers);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.RING, 3), c.hosts());
        EncodedContext ctx = e.encode(CONTEXT, ProgressListener.NONE);
        float[] logits = e.generate(ctx, QUERY, SamplingOptions.greedy(), 1, t -> false, t -> {}).firstLogits();
        long[] calls = new long[3], received = new long[3], sent = new long[3];
        for (int h = 0; h < 3; h++) {
            calls[h] = servers[h].passKvCalls();
            received[h] = c.hosts().get(h).stats().phase1BytesReceived;
            sent[h] = c.hosts().get(h).stats().phase1BytesSent;
        }
        ctx.release();
        return new Run(logits, calls, received, sent);
    }

    /** The in-process ring's logits, and the KV blocks each of its hosts received (its bytes over one share's block). */
    private static Run inProcessRing(LoadedModel m) {
        InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.RING, 3));
        EncodedContext ctx = e.encode(CONTEXT, ProgressListener.NONE);
        float[] logits = e.generate(ctx, QUERY, SamplingOptions.greedy(), 1, t -> false, t -> {}).firstLogits();
        List<? extends ContextHost> hosts = ctx.hosts();
        long blockBytes = 20L * m.config().kvDim() * 2 * Float.BYTES;
        long[] blocks = new long[3];
        for (int h = 0; h < 3; h++) blocks[h] = hosts.get(h).stats().phase1BytesReceived / blockBytes;
        ctx.release();
        return new Run(logits, blocks, null, null);
    }

    @Test
    void blocksStopAtTheLastHostThatSeesThemAndTheLogitsStayTheSame() {
        FamilyFixture f = FamilyFixture.of("gemma3");
        Path windowed = f.writeTo(tmp.resolve("gemma3-windowed"), FamilyFixture.Style.V4);
        // The same weights with every layer full: every block goes round the whole ring.
        Path full = f.writeTo(tmp.resolve("gemma3-full"), FamilyFixture.Style.V4, cfg -> cfg
                .replace("\"sliding_window_pattern\": 6", "\"sliding_window_pattern\": 1")
                .replace("\"rope_local_base_freq\": 10000.0", "\"rope_local_base_freq\": null"));

        Run local = inProcessRing(load(windowed));
        Run remote = remoteRing(windowed);
        // Phase 2 gathers from the hosts in another order than in process: float rounding apart, the same logits.
        float d = maxDiff(local.logits(), remote.logits());
        assertTrue(d < 1e-5f, "remote ring vs in-process ring: logits differ by " + d);
        // Sliding layers (5): host 0's block is seen by host 1 (queries 20.. see keys from 13) but not host 2 (from 33);
        // host 1's by host 2 only (host 0 lies before it); host 2's by nobody after it along the ring. The full layer
        // passes every block round: 2 per host.
        assertArrayEquals(new long[] {2, 7, 7}, remote.passKvCalls(), "PassKv calls per host");
        assertArrayEquals(remote.passKvCalls(), local.passKvCalls(), "the same blocks as the in-process ring");

        Run round = remoteRing(full);
        assertArrayEquals(new long[] {12, 12, 12}, round.passKvCalls(), "every layer full: 2 blocks per host and layer");
        for (int h = 0; h < 3; h++) {
            assertTrue(remote.bytesReceived()[h] < round.bytesReceived()[h], "host " + h + " received fewer bytes");
            assertTrue(remote.bytesSent()[h] < round.bytesSent()[h], "host " + h + " sent fewer bytes");
        }
        long saved = 0, total = 0;
        for (int h = 0; h < 3; h++) {
            saved += round.bytesReceived()[h] - remote.bytesReceived()[h];
            total += round.bytesReceived()[h];
        }
        System.out.printf("windowed ring over gRPC: %d of %d phase-1 bytes received saved%n", saved, total);
    }
}
