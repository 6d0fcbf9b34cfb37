package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.attention.KvType;
import org.junit.jupiter.api.Test;

/** q8_0 KV through the engine: logits near f32 KV, KV memory about half of f16 (measured kvBytes). */
class Q8KvEngineTest {
    static double relDiff(float[] a, float[] b) {
        double max = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        return max / scale;
    }

    @Test
    void q8LogitsAreCloseToF32AndTheKvIsHalfOfF16() {
        var ctx = StrategyInvariantsTest.CONTEXT;
        var q = StrategyInvariantsTest.QUERY;
        for (EngineOptions base : new EngineOptions[] {EngineOptions.dense(),
                EngineOptions.of(AttentionMode.STAR, 3).withBlockSize(50).withAnchorSize(20)}) {
            GenerationResult f32 = StrategyInvariantsTest.run(base, ctx, q, 1);
            GenerationResult f16 = StrategyInvariantsTest.run(base.withKvType(KvType.F16), ctx, q, 1);
            GenerationResult q8 = StrategyInvariantsTest.run(base.withKvType(KvType.Q8_0), ctx, q, 1);
            GenerationResult q8k = StrategyInvariantsTest.run(base.withKvTypes(KvType.Q8_0, KvType.F16), ctx, q, 1);
            double d16 = relDiff(f32.firstLogits(), f16.firstLogits());
            double d8 = relDiff(f32.firstLogits(), q8.firstLogits());
            double d8k = relDiff(f32.firstLogits(), q8k.firstLogits());
            System.out.printf("%s: relative logit difference vs f32 KV: f16 %.2e, q8_0 %.2e, q8_0 K + f16 V %.2e%n",
                    base.strategy().name(), d16, d8, d8k);
            assertTrue(d8 < 5e-3, base.strategy().name() + " q8_0: " + d8);
            assertTrue(d8k < 5e-3, base.strategy().name() + " q8_0 K: " + d8k);
            assertTrue(d8 > d16, "8 bits lose more than 16");
            long b16 = kvBytes(base.withKvType(KvType.F16)), b8 = kvBytes(base.withKvType(KvType.Q8_0));
            assertEquals(34.0 / 64.0, (double) b8 / b16, 1e-9, "q8_0 KV bytes against f16 (kv row of 32: one block, one scale)");
        }
    }

    static long kvBytes(EngineOptions o) {
        EncodedContext enc = new InferenceEngine(StrategyInvariantsTest.MODEL, o).encode(StrategyInvariantsTest.CONTEXT, ProgressListener.NONE);
        long b = 0;
        for (ContextHost h : enc.hosts()) b += h.kvBytes();
        return b;
    }
}
