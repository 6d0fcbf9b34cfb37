package dev.starattn.model;

import dev.starattn.cpu.Parallel;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;
import dev.starattn.format.TensorRef;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Finds NaN or infinite values in float weights (F32, F16, BF16) when a model is opened: one such
 * value makes every logit NaN, which the sampler would turn into a silent wrong answer. A value is
 * NaN or infinite exactly when its exponent bits are all ones, so the scan is an AND and compare
 * over the mapped bytes, eight at a time, split over cores. Quantized tensors are not scanned: their
 * scales are F16 inside blocks, and decoding them costs as much as a forward pass over the weights.
 */
final class FiniteCheck {
    private FiniteCheck() {}

    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long F32_EXP = 0x7f80_0000L;
    private static final long F16_EXP = 0x7c00L;
    private static final long BF16_EXP = 0x7f80L;
    /** Bytes per parallel chunk. */
    private static final long CHUNK = 1 << 22;

    /** Throws a {@link ModelFormatException} naming the first tensor (in list order) holding a NaN or infinity. */
    static void check(List<TensorRef> tensors, String file) {
        for (TensorRef t : tensors) {
            long bad = firstNonFinite(t);
            if (bad >= 0) {
                throw new ModelFormatException(file + ": tensor " + Printable.quote(t.name()) + " holds a NaN or infinite value (element "
                        + bad + "); the weights are corrupt.");
            }
        }
    }

    /** Index of a NaN or infinite element of a float tensor, or -1 (also for quantized types). */
    static long firstNonFinite(TensorRef t) {
        int width = switch (t.type()) {
            case F32 -> 4;
            case F16, BF16 -> 2;
            default -> 0;
        };
        if (width == 0) return -1;
        long exp = switch (t.type()) {
            case F32 -> F32_EXP;
            case F16 -> F16_EXP;
            default -> BF16_EXP;
        };
        MemorySegment seg = t.data();
        long bytes = seg.byteSize();
        int chunks = (int) Math.min(Integer.MAX_VALUE, (bytes + CHUNK - 1) / CHUNK);
        long[] found = new long[chunks];
        java.util.Arrays.fill(found, -1);
        Parallel.forRange(chunks, 1, (from, to) -> {
            for (int c = from; c < to; c++) {
                long start = c * CHUNK, end = Math.min(bytes, start + CHUNK);
                long at = scan(seg, start, end, width, exp);
                if (at >= 0) found[c] = at / width;
            }
        });
        for (long f : found) if (f >= 0) return f;
        return -1;
    }

    /**
     * Byte offset of the first element in [start, end) whose exponent bits ({@code exp}, of {@code width}
     * bytes) are all ones, or -1. Eight bytes at a time: a plain long loop reaches memory bandwidth once
     * compiled and, unlike Vector API code, is not slow before the JIT has compiled it (the scan runs once).
     */
    private static long scan(MemorySegment seg, long start, long end, int width, long exp) {
        long m = width == 4 ? exp | exp << 32 : exp | exp << 16 | exp << 32 | exp << 48;
        // Each lane of y holds its exponent bits that are clear; no lane reaches its top bit, so adding
        // top-bit-minus-one per lane sets the top bit exactly in the lanes that are not zero, without carries.
        long ones = width == 4 ? 0x7fff_ffff_7fff_ffffL : 0x7fff_7fff_7fff_7fffL;
        long tops = ~ones;
        long p = start;
        for (; p + 8 <= end; p += 8) {
            long y = ~seg.get(LONG, p) & m;
            if (((y + ones) & tops) != tops) break;
        }
        for (; p + width <= end; p += width) {
            long x = width == 4 ? Integer.toUnsignedLong(seg.get(INT, p)) : Short.toUnsignedLong(seg.get(SHORT, p));
            if ((x & exp) == exp) return p;
        }
        return -1;
    }
}
