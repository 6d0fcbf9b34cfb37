package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.cluster.Cluster;
import dev.starattn.cluster.ClusterOptions;
import dev.starattn.cluster.HostProcess;
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
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Context hosts as operating-system processes: three {@code starattn host --port 0} JVMs started
 * through the real entry point ({@link Main}, the launcher's JVM flags), on loopback, and this JVM
 * as the client (query host). Star over them gives the tokens of the in-process run, ring those of
 * dense; a host process killed while tokens are generated fails that request within its deadline
 * naming the host, the client and the other hosts stay usable, and the host restarted on its port
 * serves the next request.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HostProcessesTest {
    /** A heap small enough for three hosts beside this JVM. */
    static final List<String> JVM_FLAGS = List.of("-Xmx384m");
    /** Deadline of each health check and phase-2 call of the client. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(4);

    @TempDir static Path dir;
    static Path modelFile;
    static int[] context, query;
    static LoadedModel client;
    static final List<HostProcess> hosts = new CopyOnWriteArrayList<>();
    /** Every process this class started, killed at the latest when this JVM exits. */
    static final List<Process> started = new CopyOnWriteArrayList<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> started.forEach(Process::destroyForcibly), "kill-host-processes"));
    }

    static HostProcess start(int port, String logName) throws Exception {
        HostProcess h = HostProcess.start(HostProcess.launcher(Main.class.getName(), JVM_FLAGS), modelFile, port, dir.resolve(logName),
                Duration.ofSeconds(60));
        started.add(h.process());
        return h;
    }

    @BeforeAll
    static void startHosts() throws Exception {
        modelFile = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(3)
                .write(dir.resolve("m.gguf"));
        Random r = new Random(7);
        context = r.ints(150, 1, 300).toArray();
        query = r.ints(9, 1, 300).toArray();
        client = ModelLoader.load(modelFile);
        // All three boot at once.
        List<CompletableFuture<HostProcess>> boot = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String log = "host-" + i + ".log";
            boot.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return start(0, log);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (var f : boot) hosts.add(f.join());
    }

    @AfterAll
    static void stopHosts() throws Exception {
        for (Process p : started) p.destroyForcibly();
        for (Process p : started) {
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "host process " + p.pid() + " still running");
            assertFalse(p.isAlive());
        }
        if (client != null) client.close();
    }

    static List<String> addrs() {
        return hosts.stream().map(HostProcess::address).toList();
    }

    static ClusterOptions options() {
        return ClusterOptions.defaults().withTimeouts(CALL_TIMEOUT, Duration.ofSeconds(30));
    }

    static GenerationResult run(InferenceEngine e, EncodedContext ctx) {
        return e.generate(ctx, query, SamplingOptions.greedy(), 6, t -> false, t -> {});
    }

    static GenerationResult run(InferenceEngine e) {
        return run(e, e.encode(context, ProgressListener.NONE));
    }

    static GenerationResult inProcess(AttentionMode mode, int hostCount) {
        return run(new InferenceEngine(client.model(), EngineOptions.of(mode, hostCount)));
    }

    static float maxDiff(float[] a, float[] b) {
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    @Test
    @Order(1)
    void starOverThreeHostProcessesEqualsInProcessStar() throws Exception {
        GenerationResult ref = inProcess(AttentionMode.STAR, 4);
        try (Cluster c = Cluster.connect(addrs(), client, options())) {
            InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 4), c.hosts());
            EncodedContext ctx = e.encode(context, ProgressListener.NONE);
            GenerationResult r = run(e, ctx);
            assertArrayEquals(ref.tokens(), r.tokens());
            assertTrue(maxDiff(ref.firstLogits(), r.firstLogits()) < 1e-5f, "logits differ by " + maxDiff(ref.firstLogits(), r.firstLogits()));
            // Each process holds one of the first three blocks of 38 tokens (the query host the last 36).
            for (var h : c.hosts()) {
                assertEquals(38, h.kvTokens(), h.address());
                assertTrue(h.stats().phase1Nanos > 0 && h.stats().phase2Nanos > 0, "timings measured in the host process " + h.address());
            }
            for (Cluster.HostHealth h : c.health()) assertEquals(1, h.sessions(), h.address() + " holds the session");
            ctx.release();
            for (Cluster.HostHealth h : c.health()) assertEquals(0, h.sessions(), h.address() + " freed the session");
        }
        // The front door: generate --host-addrs against the processes prints what generate --hosts 4 does.
        Path ctxFile = dir.resolve("context.txt"), qFile = dir.resolve("query.txt");
        Files.writeString(ctxFile, Arrays.stream(context).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        Files.writeString(qFile, Arrays.stream(query).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        JsonNode embedded = generate("--context-tokens", ctxFile.toString(), "--query-tokens", qFile.toString(), "--hosts", "4");
        JsonNode remote = generate("--context-tokens", ctxFile.toString(), "--query-tokens", qFile.toString(),
                "--host-addrs", String.join(",", addrs()));
        assertEquals(embedded.get("tokens"), remote.get("tokens"));
        assertEquals(4, remote.get("hosts").size(), "three host processes and this one: " + remote.get("hosts"));
        List<String> names = new ArrayList<>();
        remote.get("hosts").forEach(h -> names.add(h.get("name").asText()));
        assertTrue(names.containsAll(addrs()), names.toString());
    }

    static JsonNode generate(String... more) throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        List<String> args = new ArrayList<>(List.of("generate", "-m", modelFile.toString(), "-n", "6", "--json",
                "--attention", "star", "--call-timeout", "4"));
        args.addAll(List.of(more));
        int code = cl.execute(args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        return new ObjectMapper().readTree(out.toString());
    }

    @Test
    @Order(2)
    void ringOverThreeHostProcessesEqualsDense() {
        GenerationResult dense = inProcess(AttentionMode.DENSE, 1);
        try (Cluster c = Cluster.connect(addrs(), client, options())) {
            for (AttentionMode mode : new AttentionMode[] {AttentionMode.RING, AttentionMode.RING_ZIGZAG}) {
                InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(mode, 3), c.hosts());
                EncodedContext ctx = e.encode(context, ProgressListener.NONE);
                GenerationResult r = run(e, ctx);
                assertArrayEquals(dense.tokens(), r.tokens(), mode.cliName);
                float d = maxDiff(dense.firstLogits(), r.firstLogits());
                assertTrue(d < 1e-4f, mode.cliName + ": logits differ by " + d);
                int held = 0;
                for (var h : c.hosts()) {
                    held += h.kvTokens();
                    assertTrue(h.stats().phase1BytesSent > 0 && h.stats().phase1BytesReceived > 0,
                            mode.cliName + ": KV blocks passed between the processes, " + h.address());
                }
                assertEquals(context.length, held, "the processes hold the whole context");
                assertEquals(0, ctx.queryHost().kvTokens());
                ctx.release();
            }
        }
    }

    @Test
    @Order(3)
    void aKilledHostProcessFailsTheRequestInTimeAndARestartedOneServesAgain() throws Exception {
        GenerationResult ref = inProcess(AttentionMode.STAR, 4);
        HostProcess victim = hosts.get(1);
        try (Cluster c = Cluster.connect(addrs(), client, options())) {
            InferenceEngine e = new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 4), c.hosts());
            EncodedContext ctx = e.encode(context, ProgressListener.NONE);
            assertArrayEquals(ref.tokens(), run(e, ctx).tokens());

            // Killed in phase 2: the process dies after the second generated token.
            AtomicInteger generated = new AtomicInteger();
            AtomicLong killedAt = new AtomicLong();
            IllegalStateException x = assertThrows(IllegalStateException.class,
                    () -> e.generate(ctx, query, SamplingOptions.greedy(), 6, t -> false, t -> {
                        if (generated.incrementAndGet() == 2) killNow(victim, killedAt);
                    }));
            assertFailedFastNaming(victim, killedAt, x);

            // A new request while it is down: refused within the call deadline, naming it.
            long t0 = System.nanoTime();
            IllegalStateException down = assertThrows(IllegalStateException.class, () -> run(e));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(down.getMessage().startsWith("context host " + victim.address() + " failed"), down.getMessage());
            assertTrue(ms < CALL_TIMEOUT.toMillis() + 3000, "failed after " + ms + " ms, deadline " + CALL_TIMEOUT);

            // The other processes are up and the client still works with them.
            for (Cluster.HostHealth h : c.health()) {
                assertEquals(!h.address().equals(victim.address()), h.ok(), h.address() + ": " + h.message());
            }
            List<String> survivors = new ArrayList<>(addrs());
            survivors.remove(victim.address());
            try (Cluster two = Cluster.connect(survivors, client, options())) {
                GenerationResult r = run(new InferenceEngine(client.model(), EngineOptions.of(AttentionMode.STAR, 3), two.hosts()));
                assertArrayEquals(inProcess(AttentionMode.STAR, 3).tokens(), r.tokens());
            }

            // Restarted on the same port: the same client's next request works (the new process encodes its blocks).
            HostProcess again = start(victim.port(), "host-1-restarted.log");
            hosts.set(1, again);
            // The context encoded before the kill: the new process lacks its session, the client re-sends its blocks.
            assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
            assertArrayEquals(ref.tokens(), run(e).tokens());
            for (Cluster.HostHealth h : c.health()) {
                assertTrue(h.ok(), h.address() + ": " + h.message());
                if (h.address().equals(again.address())) assertEquals(1, h.encodeCalls(), "the restarted process encoded once");
            }
        }
    }

    /**
     * A host process killed in the middle of phase 1 (when its first block's progress arrives, with
     * many blocks still to go): the encode fails within the call deadline naming it, the other
     * hosts' phase-1 calls are cancelled (their half-encoded sessions freed), no thread of this JVM
     * is left in the cluster code and no process but the killed one is gone; restarted on its
     * port, the next request encodes there again and answers as the in-process engine does.
     */
    @Test
    @Order(4)
    void aHostProcessKilledInPhase1FailsTheRequestInTimeAndARestartedOneServesAgain() throws Exception {
        int[] longContext = new Random(11).ints(1800, 1, 300).toArray();
        EngineOptions opt = EngineOptions.of(AttentionMode.STAR, 4).withBlockSize(30); // 60 blocks, 15 a host
        HostProcess victim = hosts.get(2);
        java.util.Set<Thread> before = Thread.getAllStackTraces().keySet();
        try (Cluster c = Cluster.connect(addrs(), client, ClusterOptions.defaults().withTimeouts(CALL_TIMEOUT, Duration.ofSeconds(60)))) {
            InferenceEngine e = new InferenceEngine(client.model(), opt, c.hosts());
            AtomicLong killedAt = new AtomicLong();
            AtomicInteger victimBlocks = new AtomicInteger();
            IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(longContext, (h, done, total, tokens) -> {
                if (h.equals(victim.address())) {
                    victimBlocks.set(Math.max(victimBlocks.get(), done));
                    if (killedAt.get() == 0) killNow(victim, killedAt);
                }
            }));
            assertFailedFastNaming(victim, killedAt, x);
            assertTrue(victimBlocks.get() < 15, "the victim finished its phase 1 before it died");
            assertFalse(victim.process().isAlive());

            // The other processes are alive; their phase 1 was cancelled and its half-encoded session freed.
            for (HostProcess h : hosts) assertEquals(h != victim, h.process().isAlive(), h.address());
            long w = System.nanoTime();
            List<Cluster.HostHealth> health;
            do {
                health = c.health();
                if (health.stream().filter(h -> !h.address().equals(victim.address())).allMatch(h -> h.sessions() == 0)) break;
                Thread.sleep(50);
            } while (System.nanoTime() - w < 10_000_000_000L);
            for (Cluster.HostHealth h : health) {
                if (!h.address().equals(victim.address())) {
                    assertTrue(h.ok(), h.address() + ": " + h.message());
                    assertEquals(0, h.sessions(), h.address() + " still holds the cancelled session");
                }
            }
            // No thread started since is still in the engine or the cluster client.
            for (var t : Thread.getAllStackTraces().entrySet()) {
                if (before.contains(t.getKey()) || t.getKey() == Thread.currentThread()) continue;
                for (StackTraceElement f : t.getValue()) {
                    assertFalse(f.getClassName().startsWith("dev.starattn.cluster") || f.getClassName().startsWith("dev.starattn.engine"),
                            "thread " + t.getKey().getName() + " is left in " + f);
                }
            }

            // Restarted on the same port: the same client's next request encodes there again.
            HostProcess again = start(victim.port(), "host-2-restarted.log");
            hosts.set(2, again);
            InferenceEngine local = new InferenceEngine(client.model(), opt);
            GenerationResult ref = run(local, local.encode(longContext, ProgressListener.NONE));
            EncodedContext ctx = e.encode(longContext, ProgressListener.NONE);
            assertArrayEquals(ref.tokens(), run(e, ctx).tokens());
            for (Cluster.HostHealth h : c.health()) {
                assertTrue(h.ok(), h.address() + ": " + h.message());
                if (h.address().equals(again.address())) assertEquals(1, h.encodeCalls(), "the restarted process encoded once");
            }
            ctx.release();
        }
    }

    /** Kills the host process (SIGKILL, waited for) and stamps the time. */
    static void killNow(HostProcess victim, AtomicLong killedAt) {
        try {
            victim.kill();
        } catch (InterruptedException ie) {
            throw new IllegalStateException(ie);
        }
        killedAt.set(System.nanoTime());
    }

    /** The request failed after the kill, within the call deadline, naming the killed host. */
    static void assertFailedFastNaming(HostProcess victim, AtomicLong killedAt, IllegalStateException x) {
        long ms = (System.nanoTime() - killedAt.get()) / 1_000_000;
        assertTrue(killedAt.get() != 0, "the request failed before the host was killed: " + x.getMessage());
        assertTrue(x.getMessage().startsWith("context host " + victim.address() + " failed"), x.getMessage());
        assertTrue(ms < CALL_TIMEOUT.toMillis(), "failed " + ms + " ms after the kill, deadline " + CALL_TIMEOUT);
    }
}
