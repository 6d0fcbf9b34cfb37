package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.LoadedModel;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Hosts that cannot be reached, hang, die in phase 1, or lose their client: each request fails at
 * once naming the host (or is bounded by its deadline), the rest of the cluster keeps serving, and
 * a host never keeps a session for a client that is gone.
 */
class HostFailureTest extends ClusterFixture {
    /** The deadline these tests would wait out if a failure were not noticed at once. */
    static final Duration LONG = Duration.ofSeconds(60);

    static long ms(long t0) {
        return (System.nanoTime() - t0) / 1_000_000;
    }

    static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void aRefusedOrUnresolvableHostFailsAtOnceNamingItWithoutAWarningDump() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer good = host();
        ClusterOptions o = ClusterOptions.defaults().withTimeouts(LONG, LONG);
        String refused = "127.0.0.1:" + closedPort(), unknown = "no-such-host.invalid:7101";
        try (JulCapture logs = new JulCapture()) {
            for (String[] c : new String[][] {{refused, "connection refused"}, {unknown, "unknown host"}}) {
                long t0 = System.nanoTime();
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> Cluster.connect(List.of(addr(good), c[0]), client, o).close());
                assertEquals("context host " + c[0] + " failed: " + c[1], e.getMessage());
                assertTrue(ms(t0) < 5000, c[0] + ": failed after " + ms(t0) + " ms, not at once");
            }
            Thread.sleep(300);  // a resolver retry would log by now
            assertEquals("", logs.summary(), "gRPC printed warnings");
        }
        // The healthy host still serves.
        Cluster c = connect(client, fast(), good);
        GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), c.hosts()));
        assertArrayEquals(run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2))).tokens(), r.tokens());
    }

    /** A host that accepts connections and never answers is bounded by the call deadline. */
    @Test
    void aHostThatAcceptsAndNeverAnswersFailsAtTheDeadline() throws Exception {
        LoadedModel client = load(modelFile);
        List<Socket> held = new CopyOnWriteArrayList<>();
        try (ServerSocket mute = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try {
                    while (true) held.add(mute.accept());
                } catch (Exception closed) {
                    // the test is over
                }
            });
            String a = "127.0.0.1:" + mute.getLocalPort();
            long t0 = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> Cluster.connect(List.of(a), client, fast().withTimeouts(Duration.ofMillis(700), LONG)).close());
            long took = ms(t0);
            assertTrue(e.getMessage().startsWith("context host " + a + " failed: "), e.getMessage());
            assertTrue(e.getMessage().contains("0.7 s deadline"), e.getMessage());
            assertTrue(took >= 600 && took < 4000, "failed after " + took + " ms");
            assertTrue(!held.isEmpty(), "the client connected");
        } finally {
            for (Socket s : held) s.close();
        }
    }

    /**
     * A host that dies in phase 1 fails the request when it dies, while the query host still has
     * most of its own blocks to encode: the local work stops, the healthy host's call is cancelled.
     */
    @Test
    void aHostDyingInPhase1FailsTheRequestBeforeTheLocalBlocksAreDone() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer healthy = host(), dying = host();
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 3).withBlockSize(10);  // 5 blocks on each host
        Cluster c = connect(client, fast().withTimeouts(Duration.ofSeconds(2), LONG), healthy, dying);
        InferenceEngine e = new InferenceEngine(client.model(), opt, c.hosts());
        dying.onEncodeBlock(done -> dying.shutdownNow());
        // The query host's own blocks take 5 x 600 ms: "a lot of local work".
        List<Integer> localBlocks = new CopyOnWriteArrayList<>();
        ProgressListener slowLocal = (host, done, total, tokens) -> {
            if (host.equals("local")) {
                localBlocks.add(done);
                ClusterTest.sleep(600);
            }
        };
        long t0 = System.nanoTime();
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, slowLocal));
        long took = ms(t0);
        assertTrue(x.getMessage().startsWith("context host " + addr(dying) + " failed"), x.getMessage());
        assertTrue(took < 1800, "the failure surfaced after " + took + " ms (the local blocks alone take 3000)");
        assertTrue(localBlocks.size() < 5, "the local blocks went on after the failure: " + localBlocks);
        // The healthy host keeps no session of the failed request and serves the next one.
        long w = System.nanoTime();
        while (healthy.sessions() > 0 && ms(w) < 8000) Thread.sleep(50);
        assertEquals(0, healthy.sessions());
        Cluster only = connect(client, fast(), healthy);
        EngineOptions two = EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(10);
        assertArrayEquals(run(new InferenceEngine(client.model(), two)).tokens(),
                run(new InferenceEngine(client.model(), two, only.hosts())).tokens());
    }

    /** The query host's own phase 1 failing cancels the remote hosts' at once: the request does not wait for them. */
    @Test
    void aLocalFailureInPhase1CancelsTheRemoteHosts() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer slow = host();
        Cluster c = connect(client, fast().withTimeouts(Duration.ofSeconds(2), LONG), slow);
        InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2).withBlockSize(10), c.hosts());
        slow.onEncodeBlock(done -> ClusterTest.sleep(1000));  // 8 blocks: 8 s
        ProgressListener failingLocal = (host, done, total, tokens) -> {
            if (host.equals("local")) throw new IllegalStateException("the local block failed");
        };
        long t0 = System.nanoTime();
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, failingLocal));
        assertEquals("the local block failed", x.getMessage());
        assertTrue(ms(t0) < 2500, "the request waited " + ms(t0) + " ms for the remote host");
        slow.onEncodeBlock(null);
        long w = System.nanoTime();
        while (slow.sessions() > 0 && ms(w) < 8000) Thread.sleep(50);
        assertEquals(0, slow.sessions(), "the cancelled host keeps the session");
    }

    /** A client asking for a longer time to live than the host's gets the host's. */
    @Test
    void theHostCapsTheSessionTimeToLive() throws Exception {
        LoadedModel client = load(modelFile);
        List<String> log = new CopyOnWriteArrayList<>();
        HostServer s = host(HostServer.builder(load(modelFile)).port(0).defaultTtl(Duration.ofMillis(400))
                .reaperPeriod(Duration.ofMillis(50)).log(log::add));
        Cluster c = connect(client, fast().withSession("doc", false, Duration.ofHours(1)), s);
        run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 2), c.hosts()));
        c.close();  // keeps the named session
        assertEquals(1, s.sessions());
        long t0 = System.nanoTime();
        while (s.sessions() > 0 && ms(t0) < 10_000) Thread.sleep(25);
        assertEquals(0, s.sessions(), "the session outlived the host's --session-ttl");
        assertTrue(ms(t0) < 3000, "freed after " + ms(t0) + " ms");
        assertTrue(log.stream().anyMatch(l -> l.equals("session doc expired (unused for its time to live); its KV is freed")), log.toString());
    }

    /**
     * A client killed in phase 2 (its connection breaks; it never releases its session): after the
     * grace the host frees the session and its KV goes back to the memory budget, so another
     * client can encode; a session whose stream is used again is kept.
     */
    @Test
    void aSessionWhoseClientIsGoneIsFreedAfterTheGrace() throws Exception {
        LoadedModel client = load(modelFile);
        List<String> log = new CopyOnWriteArrayList<>();
        // 75 tokens x 2 layers x 2 x 32 f32 = 38400 bytes a session: room for one.
        HostServer s = host(HostServer.builder(load(modelFile)).port(0).memoryBudget(50_000)
                .streamGrace(Duration.ofMillis(100)).reaperPeriod(Duration.ofMillis(50)).log(log::add));
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 2);
        GenerationResult ref = run(new InferenceEngine(client.model(), opt));
        CountingProxy proxy = new CountingProxy(s.port());
        toClose.add(proxy);
        Cluster doomed = Cluster.connect(List.of(proxy.address()), client, fast());
        toClose.add(doomed);
        EncodedContext held = new InferenceEngine(client.model(), opt, doomed.hosts()).encode(context, ProgressListener.NONE);
        assertArrayEquals(ref.tokens(), run(new InferenceEngine(client.model(), opt, doomed.hosts()), held).tokens());
        assertEquals(1, s.sessions());
        // The budget is taken: another client is refused while the first holds its session.
        Cluster other = connect(client, fast(), s);
        IllegalStateException full = assertThrows(IllegalStateException.class,
                () -> run(new InferenceEngine(client.model(), opt, other.hosts())));
        assertTrue(full.getMessage().contains("memory budget of 50000 bytes"), full.getMessage());
        proxy.close();  // the first client's connection breaks, as when its process is killed
        long t0 = System.nanoTime();
        while (s.sessions() > 0 && ms(t0) < 10_000) Thread.sleep(25);
        assertEquals(0, s.sessions(), "the session of a client that is gone stays pinned");
        assertTrue(ms(t0) < 3000, "freed after " + ms(t0) + " ms");
        assertEquals(0, s.kvBytes());
        assertTrue(log.stream().anyMatch(l -> l.contains("phase-2 stream broke") && l.contains("within 0.1 s")), log.toString());
        // The budget is free again.
        assertArrayEquals(ref.tokens(), run(new InferenceEngine(client.model(), opt, other.hosts())).tokens());
    }

    /** A stream that broke but whose session is used again (the client reconnected) keeps the session. */
    @Test
    void aSessionUsedAgainAfterItsStreamBrokeIsKept() throws Exception {
        LoadedModel client = load(modelFile);
        HostServer s = host(HostServer.builder(load(modelFile)).port(0)
                .streamGrace(Duration.ofMillis(300)).reaperPeriod(Duration.ofMillis(50)));
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 2);
        GenerationResult ref = run(new InferenceEngine(client.model(), opt));
        Cluster c = connect(client, fast(), s);
        InferenceEngine e = new InferenceEngine(client.model(), opt, c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        run(e, ctx);
        // A hung answer makes the client give up on its stream (the host sees it cancelled) ...
        s.onAttend(layer -> ClusterTest.sleep(3000));
        assertThrows(IllegalStateException.class, () -> run(e, ctx));
        s.onAttend(null);
        // ... and its next query, on a new stream, within the grace, keeps the session (no new phase 1).
        assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
        Thread.sleep(600);
        assertEquals(1, s.sessions(), "a session in use was freed");
        assertEquals(1, s.encodeCalls());
        assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
        assertEquals(1, s.encodeCalls());
    }
}
