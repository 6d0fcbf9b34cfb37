package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import org.junit.jupiter.api.Test;

/** {@code --device cuda}'s checks that come before any GPU is touched. */
class CudaHostsTest {
    @Test
    void cpuNeedsNoGpuHosts() {
        assertNull(CudaHosts.forDevice("cpu", null, EngineOptions.of(AttentionMode.RING, 3), 0, 64));
    }

    @Test
    void denseNeedsTheQueryHostOnTheGpu() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaHosts.forDevice("cuda", null, EngineOptions.of(AttentionMode.DENSE, 1), 0, 64));
        assertTrue(e.getMessage().contains("--query-host gpu"), e.getMessage());
        assertTrue(CudaHosts.check("cuda"), "dense runs on one GPU host");
    }

    @Test
    void anotherDeviceNameIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaHosts.pipelines("gpu", null, EngineOptions.of(AttentionMode.STAR, 2), 0, 64));
        assertTrue(e.getMessage().contains("cpu or cuda"), e.getMessage());
        assertNull(CudaHosts.pipelines("cpu", null, EngineOptions.of(AttentionMode.STAR, 2), 0, 64));
    }

    @Test
    void ringWithTheQueryHostOnTheCpuNeedsTwoHosts() {
        for (AttentionMode mode : new AttentionMode[] {AttentionMode.STAR, AttentionMode.RING, AttentionMode.RING_ZIGZAG}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CudaHosts.forDevice("cuda", null, EngineOptions.of(mode, 1), 0, 64));
            assertTrue(e.getMessage().contains("--hosts 2 or more"), e.getMessage());
        }
    }
}
