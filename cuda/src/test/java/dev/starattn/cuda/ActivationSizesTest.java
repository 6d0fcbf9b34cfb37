package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.model.DecoderConfig;
import org.junit.jupiter.api.Test;

/** The GPU activations' sizes (no GPU needed): 64-bit past 2^31 elements, as {@code Activations.ensure} allocates them. */
class ActivationSizesTest {
    /** Llama-3.2-1B's shape: 16 layers, dim 2048, 32 heads, 8 kv heads, head dim 64, FFN 8192; a small vocabulary. */
    static DecoderConfig llama1b() {
        return new DecoderConfig("llama", 2048, 16, 32, 8, 64, 8192, 1024, 1 << 21, 1e-5f, 500000f, 64, true,
                DecoderConfig.defaultInvFreq(500000f, 64), false, false);
    }

    @Test
    void bytesPerRowAddUpByHand() {
        DecoderConfig c = llama1b();
        long d = 2048, qd = 2048, kd = 512, f = 8192;
        long perRow = 4 * d + 2 * d + 4 * qd + 2 * qd + 8 * kd + 4 * qd + 2 * qd + 8 * f + 2 * f + 8 + 4 * 32;
        long fixed = 2 * d + 4L * 1024;
        assertEquals(perRow + fixed, CudaModel.Activations.bytesFor(c, 1));
        // 256K rows x FFN 8192 = 2^31 elements in g alone: the sum must be exact in 64 bits.
        assertEquals((1L << 18) * perRow + fixed, CudaModel.Activations.bytesFor(c, 1 << 18));
        assertTrue(CudaModel.Activations.bytesFor(c, 1 << 20) > 100L << 30, "a million rows at once: over 100 GiB");
    }
}
