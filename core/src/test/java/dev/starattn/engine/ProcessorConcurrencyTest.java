package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.Partial;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-process hosts on different processors (as GPU hosts on different GPUs) work at the same time in
 * phase 1 and phase 2; hosts of one processor take turns; the answer is the same either way.
 */
class ProcessorConcurrencyTest {
    @TempDir
    static Path tmp;
    static LoadedModel model;
    static int[] context, query;

    @BeforeAll
    static void load() {
        model = ModelLoader.load(new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(5)
                .contextLength(4096).write(tmp.resolve("m.gguf")));
        Random r = new Random(3);
        context = r.ints(600, 1, 300).toArray();
        query = r.ints(5, 1, 300).toArray();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** A CPU host that claims a processor and records how many of its kind run at once. */
    static final class Tracked implements ContextHost {
        final LocalContextHost inner;
        final String processor;
        final AtomicInteger running, maxRunning;
        final CountDownLatch meet;  // phase 1 waits here for the other processor's host, when given

        Tracked(String name, String processor, AtomicInteger running, AtomicInteger maxRunning, CountDownLatch meet) {
            this.inner = new LocalContextHost(name, model.model(), 64);
            this.processor = processor;
            this.running = running;
            this.maxRunning = maxRunning;
            this.meet = meet;
        }

        private void enter() {
            maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
        }

        @Override
        public void encode(EncodeTask task, ProgressListener progress) {
            enter();
            try {
                if (meet != null) {
                    meet.countDown();
                    try {
                        // Only a host of the other processor running at the same time opens the latch.
                        assertTrue(meet.await(20, TimeUnit.SECONDS), name() + ": the other processor's host never ran alongside");
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
                inner.encode(task, progress);
            } finally {
                running.decrementAndGet();
            }
        }

        @Override
        public Partial attend(int layer, float[] q, int rows, int[] qPos) {
            enter();
            try {
                return inner.attend(layer, q, rows, qPos);
            } finally {
                running.decrementAndGet();
            }
        }

        @Override public String processor() { return processor; }
        @Override public String name() { return inner.name(); }
        @Override public HostStats stats() { return inner.stats(); }
        @Override public int kvTokens() { return inner.kvTokens(); }
        @Override public long kvBytes() { return inner.kvBytes(); }
        @Override public void clear() { inner.clear(); }
    }

    static GenerationResult run(List<? extends ContextHost> hosts) {
        EngineOptions o = EngineOptions.of(AttentionMode.STAR, 3);
        InferenceEngine e = hosts == null ? new InferenceEngine(model.model(), o) : new InferenceEngine(model.model(), o, hosts);
        return e.generate(e.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 6, t -> false, t -> {});
    }

    @Test
    void hostsOfDifferentProcessorsRunTogetherAndAgreeWithTheCpuRun() {
        GenerationResult cpu = run(null);
        AtomicInteger running = new AtomicInteger(), max = new AtomicInteger();
        CountDownLatch meet = new CountDownLatch(2);
        GenerationResult split = run(List.of(new Tracked("h0", "gpu:0", running, max, meet), new Tracked("h1", "gpu:1", running, max, meet)));
        assertEquals(2, max.get(), "hosts on two processors never overlapped");
        assertArrayEquals(cpu.tokens(), split.tokens());
        assertArrayEquals(cpu.firstLogits(), split.firstLogits(), 1e-5f);
    }

    @Test
    void hostsOfOneProcessorTakeTurns() {
        AtomicInteger running = new AtomicInteger(), max = new AtomicInteger();
        GenerationResult shared = run(List.of(new Tracked("h0", "gpu:0", running, max, null), new Tracked("h1", "gpu:0", running, max, null)));
        assertEquals(1, max.get(), "hosts sharing a processor ran at the same time");
        assertArrayEquals(run(null).tokens(), shared.tokens());
    }
}
