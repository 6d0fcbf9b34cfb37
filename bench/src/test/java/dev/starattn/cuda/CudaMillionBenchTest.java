package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.DecoderConfig;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** What of {@link CudaMillionBench} runs without a GPU: its configurations, the hosts' shares and the memory plan at 1M tokens. */
class CudaMillionBenchTest {
    private static final int MILLION = 1 << 20;

    @Test
    void configurationsParseAndBadOnesAreRefusedInOneSentence() {
        CudaMillionBench.Config s = CudaMillionBench.Config.parse("star16-b32k");
        assertEquals(Strategies.STAR, s.strategy());
        assertEquals(16, s.hosts());
        assertEquals(32768, s.block());
        CudaMillionBench.Config z = CudaMillionBench.Config.parse("zigzag8@262144");
        assertEquals(Strategies.RING_ZIGZAG, z.strategy());
        assertEquals(262144, z.maxN());
        assertEquals("zigzag8", z.name());
        assertEquals(Strategies.DENSE, CudaMillionBench.Config.parse("dense").strategy());
        for (String bad : new String[] {"ring8-b32k", "star", "star0", "tree8", "ring8@lots"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaMillionBench.Config.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("configuration '" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void sharesCoverTheMillionTokensAndTheMemoryPlanHoldsTheirKv() {
        DecoderConfig c = CudaMillionBench.llama32_1b(MILLION + 64);
        for (String name : new String[] {"star8", "star16-b32k", "ring8", "zigzag8"}) {
            CudaMillionBench.Config cfg = CudaMillionBench.Config.parse(name);
            int[] shares = CudaMillionBench.shares(cfg, MILLION);
            assertEquals(MILLION, Arrays.stream(shares).asLongStream().sum(), name);
            long[] mem = CudaMillionBench.memoryPlan(c, cfg, MILLION, 0, 32768, 1);
            // One GPU holds every host's KV: 32 GiB of K and V (16 layers x 512 values x bf16) and 4 bytes a row of positions.
            assertEquals((32L << 30) + 4L * MILLION * 16, mem[0], name);
        }
        // Eight GPUs: the busiest holds one host's eighth.
        long[] eight = CudaMillionBench.memoryPlan(c, CudaMillionBench.Config.parse("star8"), MILLION, 0, 32768, 8);
        assertEquals((4L << 30) + 4L * (MILLION / 8) * 16, eight[0]);
        // Star with 8 hosts at 1M: the last host's [anchor; block] of 2 x 128K plus the anchor's own cache, and a 32K chunk.
        long[] star = CudaMillionBench.memoryPlan(c, CudaMillionBench.Config.parse("star8"), MILLION, 0, 32768, 1);
        assertEquals((12L << 30) + CudaModel.Activations.bytesFor(c, 32768), star[1]);
    }
}
