package dev.starattn.testutil;

import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.tensor.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Slow, obviously-correct dequantization of GGML tensor bytes to double, written straight from
 * GGML's block definitions, one element at a time. A test oracle for the fast kernels.
 */
public final class ReferenceDequant {
    private ReferenceDequant() {}

    private static int u8(MemorySegment s, long off) {
        return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, off));
    }

    private static int i8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off);
    }

    private static short u16le(MemorySegment s, long off) {
        return (short) (u8(s, off) | (u8(s, off + 1) << 8));
    }

    private static double f16(MemorySegment s, long off) {
        return Float.float16ToFloat(u16le(s, off));
    }

    private static double bf16(MemorySegment s, long off) {
        return Float.intBitsToFloat((u16le(s, off) & 0xFFFF) << 16);
    }

    /** Every tensor of a GGUF file, dequantized in double precision then rounded to f32, by name (file order). */
    public static Map<String, float[]> fileWeights(Path gguf) {
        Map<String, float[]> w = new LinkedHashMap<>();
        try (GgufFile f = GgufFile.open(gguf)) {
            for (TensorRef t : f.tensors()) {
                double[] d = dequantize(t.type(), t.data(), t.elements());
                float[] x = new float[d.length];
                for (int i = 0; i < d.length; i++) x[i] = (float) d[i];
                w.put(t.name(), x);
            }
        }
        return w;
    }

    public static double[] dequantize(GgmlType type, MemorySegment data, long elements) {
        if (elements % type.blockSize != 0 || elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(elements + " elements of " + type);
        }
        if (data.byteSize() < type.byteSize(elements)) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is too small for " + elements + " " + type);
        }
        double[] y = new double[(int) elements];
        for (int e = 0; e < y.length; e++) y[e] = element(type, data, e);
        return y;
    }

    public static double[] dequantize(GgmlType type, byte[] data, long elements) {
        return dequantize(type, MemorySegment.ofArray(data), elements);
    }

    /** Element {@code e} of the tensor, computed from its block alone. */
    public static double element(GgmlType type, MemorySegment s, long e) {
        long blk = e / type.blockSize * type.typeSize; // byte offset of the block
        int i = (int) (e % type.blockSize);           // index inside the block
        switch (type) {
            case F32:
                return s.get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4 * e);
            case F16:
                return f16(s, 2 * e);
            case BF16:
                return bf16(s, 2 * e);
            case Q8_0: {
                // { f16 d; int8 qs[32]; }  y = d * qs[i]
                return f16(s, blk) * i8(s, blk + 2 + i);
            }
            case Q4_0: {
                // { f16 d; u8 qs[16]; } element i<16: low nibble of qs[i]; i>=16: high nibble of qs[i-16]; y = (q-8)*d
                int b = u8(s, blk + 2 + (i % 16));
                int q = i < 16 ? (b & 0xF) : (b >> 4);
                return (q - 8) * f16(s, blk);
            }
            case Q4_K: {
                // { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }
                // sub-block j = i/32 has 6-bit scale sc and min m; y = d*sc*q - dmin*m
                double d = f16(s, blk), dmin = f16(s, blk + 2);
                long scales = blk + 4;
                int j = i / 32;
                int sc, m;
                if (j < 4) {
                    sc = u8(s, scales + j) & 63;
                    m = u8(s, scales + j + 4) & 63;
                } else {
                    sc = (u8(s, scales + j + 4) & 0xF) | ((u8(s, scales + j - 4) >> 6) << 4);
                    m = (u8(s, scales + j + 4) >> 4) | ((u8(s, scales + j) >> 6) << 4);
                }
                // 64-element groups share 32 bytes: first 32 elements low nibbles, next 32 high nibbles
                int g = i / 64, r = i % 64;
                int b = u8(s, blk + 16 + 32 * g + (r % 32));
                int q = r < 32 ? (b & 0xF) : (b >> 4);
                return d * sc * q - dmin * m;
            }
            case Q6_K: {
                // { u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d; }  y = d * scales[i/16] * (q - 32)
                double d = f16(s, blk + 208);
                int sc = i8(s, blk + 192 + i / 16);
                int h = i / 128, r = i % 128;     // half of the super-block, index in it
                int quarter = r / 32, l = r % 32; // which of the 4 interleaved 32-runs
                long ql = blk + 64L * h, qh = blk + 128 + 32L * h;
                int lowByte = u8(s, ql + l + (quarter % 2 == 1 ? 32 : 0));
                int low = quarter < 2 ? (lowByte & 0xF) : (lowByte >> 4);
                int high = (u8(s, qh + l) >> (2 * quarter)) & 3;
                int q = (low | (high << 4)) - 32;
                return d * sc * q;
            }
            default:
                throw new IllegalArgumentException("no reference dequantization for " + type);
        }
    }
}
