package dev.starattn.engine.strategy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EngineOptions;
import dev.starattn.model.DecoderConfig;
import dev.starattn.testutil.InMemoryModel;
import org.junit.jupiter.api.Test;

/** {@code --attention auto}: dense where a split would not pay, a split strategy where it does, and why. */
class AutoAttentionTest {
    private static final DecoderConfig C = InMemoryModel.config("llama", 256, 4, 8, 2, 512, 300, 65536);
    private static final double RATE = 50e9;

    private static AutoAttention.Choice choose(int n, int hosts, AutoAttention.Placement where) {
        return AutoAttention.choose(C, n, EngineOptions.of(Strategies.STAR, hosts), where, RATE);
    }

    @Test
    void oneHostOrAShortContextStaysDense() {
        AutoAttention.Choice one = choose(8192, 1, AutoAttention.Placement.IN_PROCESS);
        assertEquals(Strategies.DENSE, one.strategy());
        assertTrue(one.why().contains("one host"), one.why());
        AutoAttention.Choice shortCtx = choose(256, 8, AutoAttention.Placement.IN_PROCESS);
        assertEquals(Strategies.DENSE, shortCtx.strategy(), shortCtx.why());
        assertEquals(1, shortCtx.applyTo(EngineOptions.of(Strategies.STAR, 8)).hostsUsed());
    }

    @Test
    void aLongContextOnHostsOfTheirOwnIsSplit() {
        AutoAttention.Placement cluster = new AutoAttention.Placement(true, 0.5e-3, false, true);
        AutoAttention.Choice c = choose(32768, 8, cluster);
        assertNotEquals(Strategies.DENSE, c.strategy(), c.why());
        assertTrue(c.predictedSeconds().get(c.strategy().name()) < c.predictedSeconds().get("dense"), c.why());
        assertEquals(8, c.applyTo(EngineOptions.of(Strategies.STAR, 8)).hosts());
        // On GPUs star-pass is not offered (its row choice is scored on the CPU there, which the FLOP model does not count).
        AutoAttention.Choice gpu = choose(32768, 8, new AutoAttention.Placement(true, 50e-6, true, false));
        assertEquals(Strategies.STAR, gpu.strategy(), gpu.why());
    }

    @Test
    void hostsTakingTurnsSplitOnlyWhenTheTotalWorkIsLess() {
        for (int n : new int[] {1024, 4096, 32768}) {
            AutoAttention.Choice c = choose(n, 8, AutoAttention.Placement.IN_PROCESS);
            double dense = c.predictedSeconds().get("dense");
            double chosen = c.predictedSeconds().get(c.strategy().name());
            assertTrue(chosen <= dense, n + ": " + c.why());
            for (double t : c.predictedSeconds().values()) assertTrue(chosen <= t, n + ": " + c.why());
        }
    }

    @Test
    void throughputIsMeasured() {
        var model = new InMemoryModel(InMemoryModel.config("llama", 64, 2, 4, 2, 96, 60, 4096), 3).model();
        double r = AutoAttention.measureFlopsPerSecond(model);
        assertTrue(r > 0 && Double.isFinite(r), "FLOP/s " + r);
    }
}
