package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Host-side bf16 arrays, what the bf16 KV cache and the tensor-core checks rely on (no GPU needed). */
class Bf16Test {
    @Test
    void roundTripKeepsBf16ValuesAndRoundsOthersToNearest() {
        Random r = new Random(1);
        float[] x = new float[10_000];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 4));
        float[] back = Bf16.toFloats(Bf16.fromFloats(x, x.length));
        float[] rounded = Bf16.round(x);
        for (int i = 0; i < x.length; i++) {
            assertEquals(rounded[i], back[i], 0f);
            // bf16 keeps 8 significant bits: the nearest is within half a unit in the last place, at most 2^-8 relative.
            assertTrue(Math.abs(back[i] - x[i]) <= Math.abs(x[i]) * 0x1p-8f, x[i] + " -> " + back[i]);
            assertEquals(back[i], Bf16.round(new float[] {back[i]})[0], 0f);  // already bf16: unchanged
        }
        assertEquals(1.0f, Bf16.toFloat(Bf16.fromFloats(new float[] {1.00390625f}, 1)[0]), 0f);  // a tie rounds to even
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloats(new float[] {Float.NaN}, 1)[0])));
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.round(new float[] {Float.NEGATIVE_INFINITY})[0], 0f);
    }
}
