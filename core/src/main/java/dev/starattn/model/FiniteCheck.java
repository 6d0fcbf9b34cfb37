package dev.starattn.model;

import dev.starattn.cpu.Parallel;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;
import dev.starattn.format.TensorRef;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Finds NaN or infinite values in float weights (F32, F16, BF16) when a model is opened: one such
 * value makes every logit NaN, which the sampler would turn into a silent wrong answer. A value is
 * NaN or infinite exactly when its exponent bits are all ones, so the scan is a vector AND and
 * compare over the mapped bytes. Quantized tensors are not scanned: their scales are F16 inside
 * blocks, and decoding them costs as much as a forward pass over the weights.
 */
final class FiniteCheck {
    private FiniteCheck() {}

    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    private static final int F32_EXP = 0x7f80_0000;
    private static final short F16_EXP = 0x7c00;
    private static final short BF16_EXP = 0x7f80;
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
        MemorySegment seg = t.data();
        long bytes = seg.byteSize();
        int chunks = (int) Math.min(Integer.MAX_VALUE, (bytes + CHUNK - 1) / CHUNK);
        long[] found = new long[chunks];
        java.util.Arrays.fill(found, -1);
        Parallel.forRange(chunks, 1, (from, to) -> {
            for (int c = from; c < to; c++) {
                long start = c * CHUNK, end = Math.min(bytes, start + CHUNK);
                long at = switch (t.type()) {
                    case F32 -> scan32(seg, start, end);
                    case F16 -> scan16(seg, start, end, F16_EXP);
                    default -> scan16(seg, start, end, BF16_EXP);
                };
                if (at >= 0) found[c] = at / width;
            }
        });
        for (long f : found) if (f >= 0) return f;
        return -1;
    }

    /** Byte offset of the first element in [start, end) whose exponent is all ones, or -1. */
    private static long scan32(MemorySegment seg, long start, long end) {
        long step = I.vectorByteSize();
        long p = start;
        IntVector mask = IntVector.broadcast(I, F32_EXP);
        for (; p + step <= end; p += step) {
            IntVector v = IntVector.fromMemorySegment(I, seg, p, ByteOrder.LITTLE_ENDIAN).and(mask);
            if (v.compare(VectorOperators.EQ, mask).anyTrue()) break;
        }
        for (; p + 4 <= end; p += 4) {
            int x = seg.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), p);
            if ((x & F32_EXP) == F32_EXP) return p;
        }
        return -1;
    }

    private static long scan16(MemorySegment seg, long start, long end, short exp) {
        long step = S.vectorByteSize();
        long p = start;
        ShortVector mask = ShortVector.broadcast(S, exp);
        for (; p + step <= end; p += step) {
            ShortVector v = ShortVector.fromMemorySegment(S, seg, p, ByteOrder.LITTLE_ENDIAN).and(mask);
            if (v.compare(VectorOperators.EQ, mask).anyTrue()) break;
        }
        for (; p + 2 <= end; p += 2) {
            short x = seg.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), p);
            if ((x & exp) == exp) return p;
        }
        return -1;
    }
}
