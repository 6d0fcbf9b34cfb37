package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.Partial;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.ProgressListener;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What of {@link CudaRing} runs without a GPU (the ring itself is checked by the bench module's CudaSelfCheck, "ring on GPUs"). */
class CudaRingTest {
    @Test
    void aRingOfGpuHostsRefusesOtherHostsByName() {
        ContextHost cpu = new ContextHost() {
            final HostStats stats = new HostStats("cpu-7");

            @Override
            public String name() {
                return "cpu-7";
            }

            @Override
            public HostStats stats() {
                return stats;
            }

            @Override
            public void encode(EncodeTask task, ProgressListener progress) {}

            @Override
            public Partial attend(int layer, float[] q, int rows, int[] qPos) {
                throw new UnsupportedOperationException();
            }

            @Override
            public int kvTokens() {
                return 0;
            }

            @Override
            public long kvBytes() {
                return 0;
            }

            @Override
            public void clear() {}
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaRing.join("ring-1", 0, List.of(cpu), new int[] {1}, new int[] {0}, ProgressListener.NONE));
        assertTrue(e.getMessage().contains("cpu-7") && e.getMessage().contains("GPU hosts only"), e.getMessage());
    }
}
