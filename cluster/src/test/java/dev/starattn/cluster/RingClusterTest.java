package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.cluster.proto.Wire;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Ring attention over context hosts that pass KV blocks to each other (HostServer instances on loopback). */
class RingClusterTest extends ClusterFixture {

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static GenerationResult dense(LoadedModel m) {
        return run(new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.DENSE, 1)));
    }

    void ringEqualsDense(AttentionMode mode, Wire wire, float tolerance) {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host(), s3 = host();
        GenerationResult ref = dense(client);
        Cluster c = connect(client, fast().withWire(wire), s1, s2, s3);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(mode, 3), c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        GenerationResult r = run(e, ctx);
        assertArrayEquals(ref.tokens(), r.tokens(), mode.cliName + " over the network");
        float d = maxDiff(ref.firstLogits(), r.firstLogits());
        assertTrue(d < tolerance, mode.cliName + ": logits differ by " + d);
        // The remote hosts hold the whole context (50 tokens each); this process only the query.
        assertEquals(0, ctx.queryHost().kvTokens());
        int held = 0;
        for (RemoteContextHost h : c.hosts()) {
            held += h.kvTokens();
            assertEquals(50, h.kvTokens());
            // Each host sent its own block and forwarded one, and received two, per layer.
            assertTrue(h.stats().phase1BytesSent > 2L * 2 * 50 * 2 * 16 * (wire == Wire.BF16 ? 2 : 4), "sent " + h.stats().phase1BytesSent);
            assertTrue(h.stats().phase1BytesReceived > 2L * 2 * 50 * 2 * 16 * (wire == Wire.BF16 ? 2 : 4), "received " + h.stats().phase1BytesReceived);
            assertTrue(h.stats().phase1Nanos > 0 && h.stats().phase1Flops() > 0 && h.stats().phase2Nanos > 0);
        }
        assertEquals(context.length, held);
        // A second query on the same encoded context: no new phase 1.
        assertArrayEquals(r.tokens(), run(e, ctx).tokens());
        assertEquals(1, s1.encodeCalls());
        ctx.release();
        assertEquals(0, s1.sessions() + s2.sessions() + s3.sessions());
    }

    /** A named ring session outlives its client; a later client asks against it with --reuse, no phase 1 anywhere. */
    @Test
    void aNamedRingSessionIsReusedByALaterClient() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host(), s3 = host();
        GenerationResult ref = dense(client);
        EngineOptions ring = EngineOptions.of(AttentionMode.RING, 3);
        Cluster first = connect(client, fast().withSession("ring-doc", false, Duration.ofMinutes(1)), s1, s2, s3);
        assertArrayEquals(ref.tokens(), run(new InferenceEngine(client.model(), ring, first.hosts())).tokens());
        first.close();
        HostServer[] all = {s1, s2, s3};
        for (HostServer s : all) {
            assertEquals(1, s.encodeCalls());
            assertEquals(1, s.sessions(), "the named session stays after its client closed");
        }
        Cluster later = connect(client, fast().withSession("ring-doc", true, Duration.ofMinutes(1)), s1, s2, s3);
        GenerationResult again = run(new InferenceEngine(client.model(), ring, later.hosts()));
        assertArrayEquals(ref.tokens(), again.tokens());
        for (RemoteContextHost h : later.hosts()) assertTrue(h.lastEncodeReused(), h.name() + " reused its session");
        for (HostServer s : all) assertEquals(1, s.encodeCalls(), "no phase 1 again");
        later.close();
    }

    @Test
    void ringOverThreeRemoteHostsEqualsDense() {
        ringEqualsDense(AttentionMode.RING, Wire.F32, 1e-4f);
    }

    @Test
    void ringZigzagOverThreeRemoteHostsEqualsDense() {
        ringEqualsDense(AttentionMode.RING_ZIGZAG, Wire.F32, 1e-4f);
    }

    @Test
    void ringWithBf16KvBlocksStaysClose() {
        ringEqualsDense(AttentionMode.RING_ZIGZAG, Wire.BF16, 0.05f);
    }

    @Test
    void ringPeersUseTheBearerToken() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(HostServer.builder(load(modelFile)).port(0).authToken("s3cret"));
        HostServer s2 = host(HostServer.builder(load(modelFile)).port(0).authToken("s3cret"));
        Cluster c = connect(client, fast().withAuthToken("s3cret"), s1, s2);
        GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.RING, 2), c.hosts()));
        assertArrayEquals(dense(client).tokens(), r.tokens());
    }

    @Test
    void aHostKilledInRingPhase1FailsTheRequestNamingItAndComesBack() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), dying = host(), s3 = host();
        int port = dying.port();
        Cluster c = connect(client, fast(), s1, dying, s3);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.RING, 3), c.hosts());
        GenerationResult ref = dense(client);
        dying.onEncodeBlock(layers -> dying.shutdownNow()); // dies after its first layer
        long t0 = System.nanoTime();
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, ProgressListener.NONE));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(x.getMessage().contains(addr(dying)), x.getMessage());
        assertTrue(ms < 5000, "failed after " + ms + " ms");
        // The other hosts stop waiting and free their half-encoded sessions.
        long w = System.nanoTime();
        while (s1.sessions() + s3.sessions() > 0 && System.nanoTime() - w < 8_000_000_000L) Thread.sleep(50);
        assertEquals(0, s1.sessions() + s3.sessions());
        assertEquals(0, s1.encodeCalls() + s3.encodeCalls());
        // The client and the other hosts stay usable: a ring of the two.
        Cluster two = connect(client, fast(), s1, s3);
        assertArrayEquals(ref.tokens(),
                run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.RING_ZIGZAG, 2), two.hosts())).tokens());
        // While the host is down, a request fails fast naming it.
        t0 = System.nanoTime();
        IllegalStateException down = assertThrows(IllegalStateException.class, () -> run(e));
        assertTrue(down.getMessage().contains(addr(dying)), down.getMessage());
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 5000);
        // Restarted on the same port: the ring works again (its peers dial it anew).
        HostServer again = host(HostServer.builder(load(modelFile)).port(port));
        assertArrayEquals(ref.tokens(), run(e).tokens());
        assertEquals(1, again.encodeCalls());
    }

    @Test
    void remoteHostsStillRefuseDense() {
        LoadedModel client = load(modelFile);
        Cluster c = connect(client, fast(), host());
        assertThrows(IllegalArgumentException.class,
                () -> new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.DENSE, 1), c.hosts()));
    }

    @Test
    void aSlowRingDoesNotOutliveItsDeadline() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), slow = host();
        slow.onEncodeBlock(layers -> sleep(4000));
        Cluster c = connect(client, fast().withTimeouts(Duration.ofSeconds(2), Duration.ofMillis(1500)), s1, slow);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.RING, 2), c.hosts());
        long t0 = System.nanoTime();
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, ProgressListener.NONE));
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 3500, x.getMessage());
        assertTrue(x.getMessage().contains("context host 127.0.0.1:"), x.getMessage());
    }
}
