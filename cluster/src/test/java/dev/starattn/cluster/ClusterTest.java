package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Star attention over context hosts in other "processes" (HostServer instances on loopback). */
class ClusterTest extends ClusterFixture {
    static Path otherModelFile;

    @BeforeAll
    static void otherModel() {
        otherModelFile = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(4)
                .write(tmp.resolve("other.gguf"));
    }

    static GenerationResult reference(LoadedModel m, int hosts) {
        return run(new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.STAR, hosts)));
    }

    @Test
    void starOverTwoRemoteHostsEqualsInProcessStar() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        GenerationResult ref = reference(client, 3);
        Cluster c = connect(client, fast(), s1, s2);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts());
        List<String> progress = new ArrayList<>();
        EncodedContext ctx = e.encode(context, (h, d, t, n) -> {
            synchronized (progress) {
                progress.add(h);
            }
        });
        GenerationResult r = run(e, ctx);
        assertArrayEquals(ref.tokens(), r.tokens());
        assertTrue(maxDiff(ref.firstLogits(), r.firstLogits()) < 1e-5f, "logits differ by " + maxDiff(ref.firstLogits(), r.firstLogits()));
        assertTrue(progress.contains(addr(s1)) && progress.contains(addr(s2)), "per-block progress streamed back: " + progress);
        // Hosts hold the first blocks, the local process the last one; stats come from the hosts.
        for (RemoteContextHost h : c.hosts()) {
            assertEquals(50, h.kvTokens());
            assertTrue(h.stats().phase1Nanos > 0 && h.stats().phase1Flops() > 0 && h.stats().phase2Nanos > 0);
            assertTrue(h.kvBytes() > 0);
        }
        assertEquals(50, ctx.queryHost().kvTokens());
        assertEquals(1, s1.sessions());
        // A second query on the same encoded context: no new phase 1.
        assertArrayEquals(r.tokens(), run(e, ctx).tokens());
        assertEquals(1, s1.encodeCalls());
        ctx.release();
        assertEquals(0, s1.sessions());
        assertEquals(0, s2.sessions());
    }

    /** A host with a block cache directory encodes a block once, also across sessions and restarts. */
    @Test
    void hostBlockCacheServesRepeatedContextsWithoutEncoding(@org.junit.jupiter.api.io.TempDir Path dir) {
        LoadedModel client = load(modelFile);
        GenerationResult ref = reference(client, 2);
        for (int round = 0; round < 2; round++) {
            // A new host process each round, same cache directory: round 2 loads the block from disk.
            LoadedModel hm = load(modelFile);
            HostServer s = host(HostServer.builder(hm).port(0)
                    .blockCache(new dev.starattn.engine.BlockCache(hm.fingerprint(), 1L << 30, dir, 1L << 30)));
            Cluster c = connect(client, fast(), s);
            InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), c.hosts());
            EncodedContext ctx = e.encode(context, ProgressListener.NONE);
            GenerationResult r = run(e, ctx);
            assertArrayEquals(ref.tokens(), r.tokens(), "round " + round);
            RemoteContextHost h = c.hosts().getFirst();
            assertEquals(round == 0 ? 0 : 1, h.stats().cacheHits, "round " + round + " cache hits on the host");
            ctx.release();
            s.shutdownNow();
        }
    }

    @Test
    void aHostServingAnotherModelIsRefused() {
        LoadedModel client = load(modelFile);
        HostServer good = host();
        HostServer other = host(HostServer.builder(load(otherModelFile)).port(0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> connect(client, fast(), good, other));
        assertTrue(e.getMessage().contains("context host " + addr(other) + " serves a different model"), e.getMessage());
        assertTrue(e.getMessage().contains("other.gguf"), e.getMessage());
    }

    @Test
    void bearerTokenIsChecked() {
        LoadedModel client = load(modelFile);
        HostServer s = host(HostServer.builder(load(modelFile)).port(0).authToken("s3cret"));
        IllegalStateException none = assertThrows(IllegalStateException.class, () -> connect(client, fast(), s));
        assertTrue(none.getMessage().contains("context host " + addr(s) + " failed: it refused the call: this host requires a bearer token"),
                none.getMessage());
        IllegalStateException wrong = assertThrows(IllegalStateException.class, () -> connect(client, fast().withAuthToken("guess"), s));
        assertTrue(wrong.getMessage().contains("wrong bearer token"), wrong.getMessage());
        Cluster c = connect(client, fast().withAuthToken("s3cret"), s);
        GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), c.hosts()));
        assertArrayEquals(reference(client, 2).tokens(), r.tokens());
    }

    @Test
    void namedSessionIsReusedExpiresAndRespectsTheBudget() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s = host(HostServer.builder(load(modelFile)).port(0).reaperPeriod(Duration.ofMillis(50)));
        ClusterOptions named = fast().withSession("doc", false, Duration.ofMillis(1500));
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 2);
        GenerationResult ref = reference(client, 2);
        // First "process": encodes the session and keeps it when it closes.
        Cluster c1 = connect(client, named, s);
        GenerationResult r1 = run(new InferenceEngine(client.model(), opt, c1.hosts()));
        c1.close();
        assertEquals(1, s.encodeCalls());
        assertEquals(1, s.sessions());
        // Second "process": asks another query against the existing session, no phase 1 on the host.
        Cluster c2 = connect(client, fast().withSession("doc", true, Duration.ofMillis(1500)), s);
        GenerationResult r2 = run(new InferenceEngine(client.model(), opt, c2.hosts()));
        assertTrue(c2.hosts().getFirst().lastEncodeReused());
        assertEquals(0, c2.hosts().getFirst().stats().phase1Nanos);
        assertEquals(1, s.encodeCalls(), "the session was reused, not encoded again");
        assertArrayEquals(ref.tokens(), r1.tokens());
        assertArrayEquals(ref.tokens(), r2.tokens());
        c2.close();
        // Unused for its time to live: the host frees it.
        long t0 = System.nanoTime();
        while (s.sessions() > 0 && System.nanoTime() - t0 < 10_000_000_000L) Thread.sleep(50);
        assertEquals(0, s.sessions());
        assertTrue(System.nanoTime() - t0 > 1_000_000_000L, "not freed before its time to live");
        Cluster c3 = connect(client, fast().withSession("doc", true, Duration.ofMillis(1500)), s);
        IllegalStateException gone = assertThrows(IllegalStateException.class,
                () -> run(new InferenceEngine(client.model(), opt, c3.hosts())));
        assertTrue(gone.getMessage().contains("context host " + addr(s) + " failed: session doc does not exist"), gone.getMessage());

        HostServer small = host(HostServer.builder(load(modelFile)).port(0).memoryBudget(10_000));
        Cluster c4 = connect(client, fast(), small);
        IllegalStateException full = assertThrows(IllegalStateException.class,
                () -> run(new InferenceEngine(client.model(), opt, c4.hosts())));
        assertTrue(full.getMessage().contains("context host " + addr(small) + " failed: session"), full.getMessage());
        assertTrue(full.getMessage().contains("memory budget of 10000 bytes"), full.getMessage());
        assertEquals(0, small.sessions());
    }

    @Test
    void aHostKilledInPhase2FailsTheRequestInTimeAndComesBack() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s1 = host();
        HostServer s2 = host();
        int port2 = s2.port();
        Cluster c = connect(client, fast().withTimeouts(Duration.ofMillis(800), Duration.ofSeconds(20)), s1, s2);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts());
        GenerationResult ref = reference(client, 3);

        // A host that stops answering: the request fails within the phase-2 deadline, naming it.
        s1.onAttend(layer -> sleep(5000));
        long t0 = System.nanoTime();
        IllegalStateException hung = assertThrows(IllegalStateException.class, () -> run(e));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(hung.getMessage().contains("context host " + addr(s1) + " failed: no answer within the 0.8 s deadline during phase 2"),
                hung.getMessage());
        assertTrue(ms < 4000, "failed after " + ms + " ms");
        s1.onAttend(null);

        // A host killed in the middle of phase 2.
        AtomicInteger calls = new AtomicInteger();
        s2.onAttend(layer -> {
            if (calls.incrementAndGet() == 3) s2.shutdownNow();
        });
        t0 = System.nanoTime();
        IllegalStateException killed = assertThrows(IllegalStateException.class, () -> run(e));
        ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(killed.getMessage().contains("context host " + addr(s2) + " failed"), killed.getMessage());
        assertTrue(ms < 4000, "failed after " + ms + " ms");

        // The client and the other host stay usable.
        Cluster only1 = connect(client, fast(), s1);
        assertArrayEquals(reference(client, 2).tokens(),
                run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), only1.hosts())).tokens());
        // While the host is down, a request fails fast naming it.
        IllegalStateException down = assertThrows(IllegalStateException.class, () -> run(e));
        assertTrue(down.getMessage().contains("context host " + addr(s2) + " failed"), down.getMessage());

        // Restarted on the same port: the next request works (its blocks are encoded again).
        HostServer again = host(HostServer.builder(load(modelFile)).port(port2));
        GenerationResult r = run(e);
        assertArrayEquals(ref.tokens(), r.tokens());
        assertEquals(1, again.encodeCalls());
    }

    /** Phase 2 travels on one stream per host, opened once and kept for every layer, token and query; unary gives the same answer. */
    @Test
    void phase2StreamIsOpenedOncePerHostAndAnswersAsUnaryCalls() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        GenerationResult ref = reference(client, 3);
        Cluster c = connect(client, fast(), s1, s2);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
        assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
        assertEquals(1, s1.attendStreams(), "2 queries x 6 steps x 2 layers on one stream");
        assertEquals(1, s2.attendStreams());
        ctx.release();
        Cluster u = connect(client, fast().withPhase2(ClusterOptions.Phase2Rpc.UNARY), s1, s2);
        GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), u.hosts()));
        assertArrayEquals(ref.tokens(), r.tokens());
        assertEquals(0, maxDiff(ref.firstLogits(), r.firstLogits()), 1e-5f);
        assertEquals(1, s1.attendStreams(), "unary calls open no stream");
    }

    /**
     * On the stream the client enforces each request's deadline: a host that stops answering fails
     * the request in time naming it, its stream is cancelled (the host's work sees the
     * cancellation), and the next request opens a new stream. Unary calls fail alike.
     */
    @Test
    void aHungHostFailsTheRequestAtTheDeadlineAndItsStreamIsCancelled() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        GenerationResult ref = reference(client, 3);
        for (ClusterOptions.Phase2Rpc rpc : ClusterOptions.Phase2Rpc.values()) {
            Cluster c = connect(client, fast().withTimeouts(Duration.ofMillis(800), Duration.ofSeconds(20)).withPhase2(rpc), s1, s2);
            InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts());
            EncodedContext ctx = e.encode(context, ProgressListener.NONE);
            java.util.concurrent.CountDownLatch cancelled = new java.util.concurrent.CountDownLatch(1);
            s1.onAttend(layer -> {
                long end = System.nanoTime() + 5_000_000_000L;
                while (System.nanoTime() < end) {
                    if (io.grpc.Context.current().isCancelled()) {
                        cancelled.countDown();
                        return;
                    }
                    sleep(10);
                }
            });
            long t0 = System.nanoTime();
            IllegalStateException hung = assertThrows(IllegalStateException.class, () -> run(e, ctx));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(hung.getMessage().contains("context host " + addr(s1) + " failed: no answer within the 0.8 s deadline during phase 2"),
                    rpc + ": " + hung.getMessage());
            assertTrue(ms < 2500, rpc + ": failed after " + ms + " ms");
            assertTrue(cancelled.await(3, java.util.concurrent.TimeUnit.SECONDS), rpc + ": the host's work did not see the cancellation");
            s1.onAttend(null);
            assertArrayEquals(ref.tokens(), run(e, ctx).tokens(), rpc + ": the next request works");
            ctx.release();
        }
        assertEquals(2, s1.attendStreams(), "the cancelled stream was replaced by a new one");
    }

    @Test
    void aHostKilledInPhase1FailsTheRequestAndCancelsTheOthers() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer quick = host(), slow = host(), dying = host();
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 4).withBlockSize(25);
        Cluster c = connect(client, fast(), quick, slow, dying);
        InferenceEngine e = new InferenceEngine(client.model(), opt, c.hosts());
        slow.onEncodeBlock(done -> sleep(3000));
        // The dying host dies only once the quick one has finished its phase 1 (published its session).
        dying.onEncodeBlock(done -> {
            long w = System.nanoTime();
            while (quick.encodeCalls() == 0 && System.nanoTime() - w < 2_000_000_000L) sleep(10);
            dying.shutdownNow();
        });
        long t0 = System.nanoTime();
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, ProgressListener.NONE));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(x.getMessage().startsWith("context host " + addr(dying) + " failed"), x.getMessage());
        assertTrue(ms < 2500, "the slow host's phase 1 was not cancelled: failed after " + ms + " ms");
        // The slow host notices the cancellation after its block and frees the half-encoded session.
        slow.onEncodeBlock(null);
        long w = System.nanoTime();
        while (slow.sessions() > 0 && System.nanoTime() - w < 8_000_000_000L) Thread.sleep(50);
        assertEquals(0, slow.sessions());
        assertEquals(0, slow.encodeCalls());
        // The quick host had finished before the failure: the failed request frees its session too.
        assertEquals(1, quick.encodeCalls(), "the quick host finished its phase 1 before the other died");
        w = System.nanoTime();
        while (quick.sessions() > 0 && System.nanoTime() - w < 8_000_000_000L) Thread.sleep(50);
        assertEquals(0, quick.sessions(), "a session of the failed request stays on a host that had finished");
        // Restarted: the same client encodes again and answers as the in-process engine does.
        host(HostServer.builder(load(modelFile)).port(dying.port()));
        GenerationResult ref = run(new InferenceEngine(client.model(), opt));
        assertArrayEquals(ref.tokens(), run(e).tokens());
    }

    @Test
    void bf16WireStaysWithinBf16Tolerance() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host(), s2 = host();
        GenerationResult ref = reference(client, 3);
        Cluster c = connect(client, fast().withWire(Wire.BF16), s1, s2);
        GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), c.hosts()));
        float scale = 0;
        for (float x : ref.firstLogits()) scale = Math.max(scale, Math.abs(x));
        float d = maxDiff(ref.firstLogits(), r.firstLogits());
        assertTrue(d > 0, "bf16 rounding should show");
        assertTrue(d < 0.02f * scale + 1e-3f, "logits differ by " + d + " (scale " + scale + ")");
    }

    /** Phase-2 byte counts are what travels: bf16 halves the query and the partial output (lse stays f32). */
    @Test
    void phase2BytesCountTheWireFormat() {
        LoadedModel client = load(modelFile);
        HostServer s1 = host();
        long[] bytes = new long[2];
        for (Wire w : new Wire[] {Wire.F32, Wire.BF16}) {
            Cluster c = connect(client, fast().withWire(w), s1);
            InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), c.hosts());
            EncodedContext ctx = e.encode(context, ProgressListener.NONE);
            run(e, ctx);
            RemoteContextHost h = c.hosts().getFirst();
            bytes[w.getNumber()] = h.stats().phase2BytesReceived;
            assertEquals(h.stats().phase2BytesReceived, ctx.queryHost().stats().phase2BytesSent);
            ctx.release();
        }
        // 9 + 5 query rows of 64 values over 2 layers: f32 4 bytes each, bf16 2.
        assertEquals(14L * 2 * 64 * 4, bytes[0]);
        assertEquals(14L * 2 * 64 * 2, bytes[1]);
    }

    @Test
    void wireCodecRoundsToNearestEven() {
        float[] v = {1f, -2.5f, 3.14159f, Float.NEGATIVE_INFINITY, 0f, 1e-30f, 65504f};
        float[] back = WireCodec.fromBf16(WireCodec.bf16(v));
        for (int i = 0; i < v.length; i++) {
            if (Float.isInfinite(v[i])) assertEquals(v[i], back[i]);
            else assertTrue(Math.abs(back[i] - v[i]) <= Math.abs(v[i]) / 256, v[i] + " -> " + back[i]);
        }
        assertArrayEquals(v, WireCodec.fromF32(WireCodec.f32(v)));
        assertNotEquals(0, WireCodec.toBf16(Float.NaN) & 0x7f);
        assertFalse(Float.isNaN(back[2]));
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
