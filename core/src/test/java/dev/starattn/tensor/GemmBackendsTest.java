package dev.starattn.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** How {@link GemmBackends} picks the engine of batched products, and falls back to the Java kernel. */
class GemmBackendsTest {
    /** A provider that counts how often it is opened; fails when {@code failure} is set. */
    static final class FakeProvider implements GemmBackend.Provider {
        final AtomicInteger opened = new AtomicInteger();
        final Exception failure;
        final GemmBackend backend = new GemmBackend() {
            @Override public String describe() { return "fake"; }
            @Override public boolean matmul(WeightMatrix w, float[] x, float[] out, int batch) { return false; }
        };

        FakeProvider(Exception failure) {
            this.failure = failure;
        }

        @Override public String name() { return "native"; }

        @Override public GemmBackend open() throws Exception {
            opened.incrementAndGet();
            if (failure != null) throw failure;
            return backend;
        }
    }

    @Test
    void autoAndNativeUseAProviderThatLoads() {
        for (String mode : new String[] {"auto", "native", " Native "}) {
            FakeProvider p = new FakeProvider(null);
            List<String> log = new ArrayList<>();
            GemmBackends.Choice c = GemmBackends.resolve(mode, List.of(p), log::add);
            assertSame(p.backend, c.backend(), mode);
            assertEquals("native: fake", c.description());
            assertEquals(List.of(), log, "nothing to say when it loads");
        }
    }

    @Test
    void javaNeverOpensTheProvider() {
        FakeProvider p = new FakeProvider(null);
        List<String> log = new ArrayList<>();
        GemmBackends.Choice c = GemmBackends.resolve("java", List.of(p), log::add);
        assertNull(c.backend());
        assertEquals(0, p.opened.get());
        assertEquals(List.of(), log);
    }

    @Test
    void aProviderThatCannotLoadGivesOneLineAndTheJavaKernel() {
        for (Exception failure : new Exception[] {new IOException("libopenblas.so.0: cannot open"),
                new UnsupportedOperationException("linux-x86_64 only")}) {
            FakeProvider p = new FakeProvider(failure);
            List<String> log = new ArrayList<>();
            GemmBackends.Choice c = GemmBackends.resolve("auto", List.of(p), log::add);
            assertNull(c.backend());
            assertEquals(1, log.size(), log.toString());
            assertTrue(log.get(0).contains(failure.getMessage()) && log.get(0).contains("Java kernel"), log.get(0));
        }
    }

    @Test
    void noProviderIsSilentForAutoAndSaidForNative() {
        List<String> log = new ArrayList<>();
        assertNull(GemmBackends.resolve("auto", List.of(), log::add).backend());
        assertEquals(List.of(), log, "core alone: the Java kernel, quietly");
        assertNull(GemmBackends.resolve("native", List.of(), log::add).backend());
        assertEquals(1, log.size());
        assertTrue(log.get(0).contains("no native GEMM"), log.get(0));
    }

    @Test
    void anUnknownModeIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GemmBackends.resolve("blas", List.of(new FakeProvider(null)), s -> {}));
        assertTrue(e.getMessage().contains("auto, native or java"), e.getMessage());
    }

    @Test
    void decodeNeverGoesNative() {
        int before = GemmBackends.minBatch();
        try {
            GemmBackends.setMinBatch(1);
            assertEquals(2, GemmBackends.minBatch());
            assertNull(GemmBackends.forBatch(1));
        } finally {
            GemmBackends.setMinBatch(before);
        }
    }

    /** The batched path hands big enough batches to the backend and runs the Java kernel when it declines. */
    @Test
    void matmulConsultsTheBackendForBigBatchesOnly() {
        int rows = 40, cols = 64;
        java.util.Random rnd = new java.util.Random(5);
        float[] wf = new float[rows * cols];
        for (int i = 0; i < wf.length; i++) wf[i] = (float) rnd.nextGaussian();
        WeightMatrix w = WeightMatrices.of(GgmlType.Q8_0, java.lang.foreign.MemorySegment.ofArray(Quantizers.quantize(GgmlType.Q8_0, wf)), rows, cols);
        AtomicInteger calls = new AtomicInteger();
        boolean[] accept = {false};
        GemmBackend b = new GemmBackend() {
            @Override public String describe() { return "test"; }
            @Override public boolean matmul(WeightMatrix m, float[] x, float[] out, int batch) {
                calls.incrementAndGet();
                if (!accept[0]) return false;
                java.util.Arrays.fill(out, 0, batch * m.rows(), 7f);
                return true;
            }
        };
        int before = GemmBackends.minBatch();
        GemmBackends.Choice old = GemmBackends.install(new GemmBackends.Choice(b, "test"));
        try {
            GemmBackends.setMinBatch(8);
            int batch = 9;
            float[] x = new float[batch * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] viaJava = new float[batch * rows], declined = new float[batch * rows], taken = new float[batch * rows];
            GemmBackends.install(new GemmBackends.Choice(null, "java"));
            w.matmul(x, viaJava, batch);
            GemmBackends.install(new GemmBackends.Choice(b, "test"));
            w.matmul(x, declined, batch);
            assertEquals(1, calls.get());
            assertTrue(java.util.Arrays.equals(viaJava, declined), "declined: the Java kernel's result");
            accept[0] = true;
            w.matmul(x, taken, batch);
            assertEquals(2, calls.get());
            for (float v : taken) assertEquals(7f, v);
            w.matmul(x, taken, 7); // below minBatch
            w.matmul(x, taken, 1); // decode
            assertEquals(2, calls.get(), "small batches stay on the Java kernel");
        } finally {
            GemmBackends.setMinBatch(before);
            GemmBackends.install(old);
        }
    }
}
