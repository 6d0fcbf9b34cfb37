package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** What the hosts count equals what the FLOP model predicts, for every strategy. */
class FlopAccountingTest {
    @Test
    void measuredPhase1FlopsEqualTheModel() {
        int[] ctx = StrategyInvariantsTest.CONTEXT;
        EngineOptions[] all = {
            EngineOptions.dense(),
            EngineOptions.of(AttentionMode.RING, 3),
            EngineOptions.of(AttentionMode.RING_ZIGZAG, 4),
            EngineOptions.of(AttentionMode.STAR, 4),
            EngineOptions.of(AttentionMode.STAR, 3).withBlockSize(40).withAnchorSize(16),
        };
        for (EngineOptions o : all) {
            EncodedContext enc = new InferenceEngine(StrategyInvariantsTest.MODEL, o.withPrefillChunk(32)).encode(ctx, ProgressListener.NONE);
            long[] predicted = FlopModel.phase1PerHost(StrategyInvariantsTest.CONFIG, ctx.length, o);
            for (int h = 0; h < predicted.length; h++) {
                assertEquals(predicted[h], enc.hosts().get(h).stats().phase1Flops(), o.strategy().name() + " H=" + o.hosts() + " host " + h);
            }
        }
    }
}
