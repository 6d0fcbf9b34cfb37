package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.BlockTask;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a host expects its memory to be: weights, KV and one block's working set, next to what /proc tells. */
class HostMemoryTest extends ClusterFixture {
    @Test
    void aBlocksWorkingSetIsItsWidestAnchorAndBlockKvAndOneChunksActivations() {
        LoadedModel m = load(modelFile);
        List<BlockTask> blocks = List.of(
                new BlockTask(1, new int[6], new int[] {4, 5, 6, 7, 8, 9}, new int[4], new int[] {0, 1, 2, 3}),
                new BlockTask(2, new int[3], new int[] {10, 11, 12}, new int[4], new int[] {0, 1, 2, 3}));
        // dim 64, ffn 128, q dim 64, kv dim 32: 4 bytes x 6 tokens (the widest, below the chunk) x (2 x 128 + 3 x 64 + 2 x 64 + 2 x 32).
        assertEquals(4L * 6 * 640, DecoderModel.activationBytes(m.config(), 6));
        assertEquals(10 * 100 + 4L * 6 * 640, HostMemory.blockWorkingSet(m, blocks, 100, 1024));
        assertEquals(10 * 100 + 4L * 2 * 640, HostMemory.blockWorkingSet(m, blocks, 100, 2));
    }

    @Test
    void theWeightsAreTheModelFilesAndTheLineComparesThePeakWithTheirSum() throws Exception {
        LoadedModel m = load(modelFile);
        HostMemory memory = new HostMemory(m);
        assertEquals(Files.size(modelFile), memory.weightBytes());
        String line = memory.line(3L << 20, 5L << 20);
        if (HostMemory.residentBytes() == null) {
            assertTrue(line.startsWith("memory: expected "), line);
        } else {
            assertTrue(line.startsWith("memory: RSS "), line);
            assertTrue(line.contains(" + KV 3 + one block's working set 5, peak "), line);
            long resident = memory.weightsResident();
            assertTrue(resident >= 0 && resident <= Files.size(modelFile) + 4096, "weights resident " + resident);
        }
    }
}
