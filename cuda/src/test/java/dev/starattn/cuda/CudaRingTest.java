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

/** What of {@link CudaRing} runs without a GPU (the ring itself is checked by CudaSelfCheck's "ring on GPUs"). */
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

    @Test
    void rowsAreGatheredByPosition() {
        float[] a = {0, 1, 10, 11, 20, 21, 30, 31};
        assertTrue(java.util.Arrays.equals(new float[] {30, 31, 0, 1}, CudaSelfCheck.rowsAt(a, new int[] {3, 0}, 2)));
        assertTrue(java.util.Arrays.equals(new float[] {1, 2, 3}, CudaSelfCheck.concatAll(List.of(new float[] {1}, new float[] {2, 3}))));
    }
}
