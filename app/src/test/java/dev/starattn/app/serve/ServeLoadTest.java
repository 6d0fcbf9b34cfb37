package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many concurrent clients on loopback for a few seconds, mixing every kind of request: no error
 * but 429 (queue full), no heap growth once it is over, every document released after its TTL.
 */
class ServeLoadTest {
    @TempDir Path dir;

    static final Duration TTL = Duration.ofMillis(1500);
    static final int CLIENTS = 24;

    final Queue<String> errors = new ConcurrentLinkedQueue<>();
    final Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();

    @Test
    void concurrentClientsOnlySee429sAndLeaveNothingBehind() throws Exception {
        ServerConfig cfg = ServerConfig.defaults().withLimits(2, 6).withTimeout(Duration.ofSeconds(30)).withDocuments(TTL, 1L << 30);
        try (ServeFixture f = new ServeFixture(dir, cfg, 2)) {
            load(f, 1_500); // warm up every path (JIT, buffer pools), then let its documents expire
            awaitReleased(f);
            long before = usedHeapAfterGc();
            statuses.clear();

            load(f, 5_000);
            assertTrue(errors.isEmpty(), "errors other than 429: " + List.copyOf(errors).subList(0, Math.min(5, errors.size())));
            int ok = statuses.getOrDefault(200, new AtomicInteger()).get();
            assertTrue(ok > 50, "too few requests served: " + statuses);

            awaitReleased(f);
            long after = usedHeapAfterGc();
            System.out.printf("load: statuses %s, heap after GC %.1f MiB before, %.1f MiB after%n", statuses, before / 1048576.0, after / 1048576.0);
            long tolerance = 32L << 20;
            assertTrue(after - before < tolerance, String.format("heap grew from %.1f MiB to %.1f MiB (statuses %s)",
                    before / 1048576.0, after / 1048576.0, statuses));
            String metrics = f.get("/metrics").body();
            assertTrue(metrics.contains("starattn_memory_used_bytes 0"), metrics);
            assertTrue(metrics.contains("starattn_host_kv_bytes{host=\"host-0\"} 0"), metrics);
            assertTrue(metrics.contains("starattn_queue_depth 0"), metrics);
        }
    }

    /** Runs CLIENTS clients for {@code millis} against three shared documents plus ones of their own. */
    void load(ServeFixture f, long millis) throws Exception {
        List<String> docs = List.of(f.document(ServeFixture.text(1500, 1)), f.document(ServeFixture.text(1200, 2)),
                f.document(ServeFixture.text(1000, 3)));
        long end = System.nanoTime() + millis * 1_000_000L;
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        for (int c = 0; c < CLIENTS; c++) {
            threads.add(Thread.ofVirtual().start(() -> {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                while (System.nanoTime() < end) {
                    try {
                        int dice = r.nextInt(100);
                        if (dice < 45) {
                            check(f.post("/v1/chat/completions", Map.of("document_id", docs.get(r.nextInt(docs.size())), "max_tokens", 4,
                                    "stream", r.nextBoolean(), "messages", List.of(Map.of("role", "user", "content", "what is blue?")))));
                        } else if (dice < 65) {
                            check(f.post("/v1/chat/completions", Map.of("max_tokens", 4, "stream", r.nextBoolean(), "messages",
                                    List.of(Map.of("role", "system", "content", ServeFixture.text(400, r.nextLong())),
                                            Map.of("role", "user", "content", "which stone?")))));
                        } else if (dice < 75) {
                            check(f.post("/v1/completions", Map.of("prompt", ServeFixture.text(300, r.nextLong()), "max_tokens", 3)));
                        } else if (dice < 85) {
                            ownDocument(f);
                        } else {
                            check(f.get(r.nextBoolean() ? "/metrics" : "/health"));
                        }
                    } catch (Exception e) {
                        errors.add(e.toString());
                    }
                }
            }));
        }
        for (Thread t : threads) t.join();
    }

    /** Uploads a document, waits for it, asks once, deletes it (a 429 anywhere ends the attempt). */
    void ownDocument(ServeFixture f) throws Exception {
        var created = f.post("/v1/documents", Map.of("text", ServeFixture.text(800, ThreadLocalRandom.current().nextLong())));
        if (!check(created)) return;
        String id = ServeFixture.json(created).get("id").asText();
        while (true) {
            var s = f.get("/v1/documents/" + id);
            if (!check(s)) return;
            String status = ServeFixture.json(s).get("status").asText();
            if (status.equals("ready")) break;
            if (status.equals("failed")) {
                errors.add("document failed: " + s.body());
                return;
            }
            Thread.sleep(20);
        }
        check(f.post("/v1/chat/completions", Map.of("document_id", id, "max_tokens", 4,
                "messages", List.of(Map.of("role", "user", "content", "how many?")))));
        check(f.delete("/v1/documents/" + id));
    }

    /** Counts the status; true for success, false for 429, an error for anything else. */
    boolean check(HttpResponse<String> r) {
        statuses.computeIfAbsent(r.statusCode(), k -> new AtomicInteger()).incrementAndGet();
        if (r.statusCode() == 200 || r.statusCode() == 202) {
            if (r.body().startsWith("data: ") && !r.body().endsWith("data: [DONE]\n\n")) errors.add("stream not finished: " + r.body());
            return true;
        }
        if (r.statusCode() != 429) errors.add(r.statusCode() + " " + r.uri() + " " + r.body());
        return false;
    }

    static void awaitReleased(ServeFixture f) throws InterruptedException {
        long end = System.nanoTime() + TTL.toNanos() * 4 + 2_000_000_000L;
        while (System.nanoTime() < end && (f.server.documentCount() > 0 || f.server.budgetUsed() != 0 || f.server.liveContexts() > 0)) {
            Thread.sleep(50);
        }
        assertEquals(0, f.server.documentCount(), "documents left after their TTL");
        assertEquals(0, f.server.budgetUsed(), "memory budget still reserved");
        assertEquals(0, f.server.liveContexts(), "encoded contexts still alive");
    }

    static long usedHeapAfterGc() throws InterruptedException {
        var mem = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, mem.getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
