package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The 64-bit size arithmetic at a million tokens: 1M tokens x 2048 values is exactly 2^31 elements, one past
 * {@code int}; nothing may wrap around, and what must fit an int is refused in one sentence.
 */
class KvSizesTest {
    private static final int MILLION = 1 << 20;

    @Test
    void aMillionTokensOf2048ValuesIsTwoToThe31ElementsNotAWrappedInt() {
        assertEquals(Integer.MIN_VALUE, MILLION * 2048, "the int product wraps: what this class is for");
        assertEquals(1L << 31, KvSizes.elements(MILLION, 2048));
        assertEquals((1L << 31) * 4, KvSizes.bytes(MILLION, 2048, 4));
        // The last row's offset in an f32 buffer of 1M rows x 2048: past 2^32 bytes, exact.
        assertEquals(((long) MILLION - 1) * 2048 * 4, KvSizes.rowOffset(MILLION - 1, 2048, 4));
        assertTrue(KvSizes.rowOffset(MILLION - 1, 2048, 4) > 0xffffffffL);
    }

    @Test
    void kvBytesOfAMillionTokensOverSixteenLayers() {
        // Llama-3.2-1B: 16 layers, 8 kv heads x 64 dims, bf16: 32 KiB a token, 32 GiB for 1M tokens.
        assertEquals(32L << 30, KvSizes.kvBytes(MILLION, 16, 8, 64, 2));
        // Rows of 2048 values (16 kv heads x 128), 16 layers, bf16: 2 x 16 x 2^31 x 2 bytes = 128 GiB.
        assertEquals(128L << 30, KvSizes.kvBytes(MILLION, 16, 16, 128, 2));
        // One host's share of eight: an eighth, exactly.
        assertEquals(4L << 30, KvSizes.kvBytes(MILLION / 8, 16, 8, 64, 2));
        assertEquals("32.00 GiB", KvSizes.gib(KvSizes.kvBytes(MILLION, 16, 8, 64, 2)));
    }

    @Test
    void overflowingProductsAndNegativeSizesAreRefusedNotWrapped() {
        assertThrows(ArithmeticException.class, () -> KvSizes.elements(Long.MAX_VALUE / 2, 3));
        assertThrows(IllegalArgumentException.class, () -> KvSizes.elements(-1, 64));
    }

    @Test
    void anArrayPastTheJavaLimitIsRefusedInOneSentenceNamingTheTokensThatFit() {
        assertEquals(MILLION * 2047, KvSizes.arrayLength(MILLION, 2047, "x"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvSizes.arrayLength(MILLION, 2048, "a KV layer"));
        assertTrue(e.getMessage().startsWith("a KV layer: 1048576 tokens x 2048 values = 2147483648 elements"), e.getMessage());
        assertTrue(e.getMessage().contains("at most " + (KvSizes.MAX_ARRAY / 2048) + " tokens fit"), e.getMessage());
    }

    @Test
    void aCpuCacheOfTwoToThe31ValuesFailsInOneSentenceInsteadOfWrapping() {
        // 16 kv heads x 128 = 2048 values a row: 1M rows would wrap an int to -2^31; the cache refuses before allocating.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new KvCache(16, 128, MILLION));
        assertTrue(e.getMessage().contains("KV cache layer on the CPU"), e.getMessage());
    }

    @Test
    void growingALargeCapacityDoesNotWrapToASmallOrNegativeOne() {
        int big = 1 << 30;
        int grown = KvSizes.grownCapacity(big, big + 1, 2, 1, KvSizes.MAX_ARRAY);
        assertTrue(grown >= big + 1 && grown <= KvSizes.MAX_ARRAY, "grown " + grown);
        assertEquals(KvSizes.MAX_ARRAY, KvSizes.grownCapacity(Integer.MAX_VALUE / 2 + 1, Integer.MAX_VALUE / 2 + 2, 2, 1, KvSizes.MAX_ARRAY));
        assertEquals(100, KvSizes.grownCapacity(100, 50, 2, 1, 1000), "enough room: unchanged");
        assertEquals(216, KvSizes.grownCapacity(100, 101, 2, 1, 1000), "doubling (+16)");
        assertEquals(5000, KvSizes.grownCapacity(100, 5000, 2, 1, 1000), "at least the rows asked for");
        assertEquals(1000, KvSizes.grownCapacity(600, 700, 2, 1, 1000), "capped at the limit");
    }
}
