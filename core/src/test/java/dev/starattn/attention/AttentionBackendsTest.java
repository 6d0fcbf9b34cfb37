package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.testutil.InMemoryModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** How {@link AttentionBackends} picks the attention kernel, and that the engine's hosts go through it. */
class AttentionBackendsTest {
    /** A provider named {@code name} that hands out {@code backend}, or throws {@code failure}. */
    record FakeProvider(String name, AttentionBackend backend, Exception failure) implements AttentionBackend.Provider {
        @Override public AttentionBackend open() throws Exception {
            if (failure != null) throw failure;
            return backend;
        }
    }

    /** The CPU kernel, counting calls. */
    static final class Counting implements AttentionBackend {
        final AtomicLong calls = new AtomicLong();

        @Override public String describe() { return "counting"; }

        @Override public Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1) {
            calls.incrementAndGet();
            return AttentionBackends.CPU.attend(q, rows, qPos, heads, kv, k0, k1);
        }
    }

    @Test
    void theCpuBackendIsTheVectorKernelBitForBit() {
        Random r = new Random(3);
        int keys = 700, rows = 5, heads = 4, kvHeads = 2, hd = 32;
        int[] pos = new int[keys];
        for (int i = 0; i < keys; i++) pos[i] = i;
        KvCache kv = AttentionKernelTest.randomKv(r, kvHeads, hd, keys, pos);
        int[] qPos = {695, 696, 697, 698, 699};
        float[] q = AttentionKernelTest.randomQ(r, rows, heads, hd);
        for (int[] range : new int[][] {{0, keys}, {100, 400}, {400, 400}}) {
            Partial want = AttentionKernel.attend(q, rows, qPos, heads, kv, range[0], range[1]);
            Partial got = AttentionBackends.CPU.attend(q, rows, qPos, heads, kv, range[0], range[1]);
            assertArrayEquals(want.out(), got.out());
            assertArrayEquals(want.lse(), got.lse());
            assertEquals(want.pairs(), got.pairs());
        }
        assertArrayEquals(AttentionKernel.attend(q, rows, qPos, heads, kv).out(), AttentionBackends.CPU.attend(q, rows, qPos, heads, kv).out());
    }

    @Test
    void javaIsTheVectorKernelAndAProviderIsChosenByName() {
        List<String> log = new ArrayList<>();
        Counting fake = new Counting();
        List<AttentionBackend.Provider> providers = List.of(new FakeProvider("fake", fake, null));
        assertSame(AttentionBackends.CPU, AttentionBackends.resolve("java", providers, log::add));
        assertSame(AttentionBackends.CPU, AttentionBackends.resolve(" Java ", providers, log::add));
        assertSame(AttentionBackends.CPU, AttentionBackends.resolve(null, providers, log::add));
        assertSame(fake, AttentionBackends.resolve("fake", providers, log::add));
        assertEquals(List.of(), log);
    }

    @Test
    void anUnknownNameOrABackendThatCannotLoadGivesOneLineAndTheVectorKernel() {
        List<String> log = new ArrayList<>();
        List<AttentionBackend.Provider> providers = List.of(new FakeProvider("broken", null, new IOException("no such library")));
        assertSame(AttentionBackends.CPU, AttentionBackends.resolve("gpu\u001b[2J", providers, log::add));
        assertEquals(1, log.size());
        assertEquals("starattn.attention takes java, broken, not \"gpu\\x1b[2J\"; attention uses the Java kernel", log.get(0));
        assertSame(AttentionBackends.CPU, AttentionBackends.resolve("broken", providers, log::add));
        assertEquals(2, log.size());
        assertTrue(log.get(1).contains("\"broken\" could not be loaded (no such library)"), log.get(1));
    }

    @Test
    void everyModeAttendsThroughTheInstalledBackend() {
        DecoderConfig c = InMemoryModel.config("llama", 64, 2, 4, 2, 96, 60, 4096);
        DecoderModel model = new InMemoryModel(c, 5).model();
        int[] context = new Random(2).ints(120, 3, c.vocabSize()).toArray();
        int[] query = {7, 9, 11};
        for (EngineOptions o : List.of(EngineOptions.of(AttentionMode.DENSE, 1), EngineOptions.of(AttentionMode.STAR, 3),
                EngineOptions.of(AttentionMode.RING, 2))) {
            GenerationResult want = generate(model, o, context, query);
            Counting counting = new Counting();
            AttentionBackend old = AttentionBackends.install(counting);
            try {
                GenerationResult got = generate(model, o, context, query);
                assertArrayEquals(want.tokens(), got.tokens(), o.toString());
            } finally {
                AttentionBackends.install(old);
            }
            assertTrue(counting.calls.get() > 0, o + " did not attend through the installed backend");
        }
    }

    private static GenerationResult generate(DecoderModel model, EngineOptions o, int[] context, int[] query) {
        InferenceEngine e = new InferenceEngine(model, o);
        return e.generate(e.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {});
    }
}
