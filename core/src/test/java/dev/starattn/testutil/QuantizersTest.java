package dev.starattn.testutil;

import dev.starattn.tensor.Quantizers;
import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.tensor.GgmlType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class QuantizersTest {
    /** Relative RMS error each type must reach on Gaussian data. */
    private static double tolerance(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1e-3;
            case BF16 -> 5e-3;
            case Q8_0 -> 0.01;
            case Q6_K -> 0.03;
            case Q4_0, Q4_K -> 0.12;
        };
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void roundTrip(GgmlType type) {
        Random rnd = new Random(type.ordinal());
        float[] x = new float[1024];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i < 512 ? 0.05 : 3.0) + (i >= 768 ? 1.0 : 0));
        byte[] q = Quantizers.quantize(type, x);
        assertEquals(type.byteSize(x.length), q.length);
        double[] y = ReferenceDequant.dequantize(type, q, x.length);
        // per 256-block relative RMS error (the blocks have very different scales)
        for (int b = 0; b < x.length; b += 256) {
            double err = 0, sig = 0;
            for (int i = b; i < b + 256; i++) {
                err += (y[i] - x[i]) * (y[i] - x[i]);
                sig += (double) x[i] * x[i];
            }
            double rel = Math.sqrt(err / sig);
            assertTrue(rel <= tolerance(type), type + " block " + b + " relative RMS error " + rel);
        }
    }

    @ParameterizedTest
    @EnumSource(GgmlType.class)
    void zerosStayZero(GgmlType type) {
        double[] y = ReferenceDequant.dequantize(type, Quantizers.quantize(type, new float[256]), 256);
        for (double v : y) assertEquals(0.0, Math.abs(v));
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, Quantizers.toBf16(1.0f));
        assertEquals((short) 0x3F80, Quantizers.toBf16(Float.intBitsToFloat(0x3F808000))); // tie -> even
        assertEquals((short) 0x3F82, Quantizers.toBf16(Float.intBitsToFloat(0x3F818000))); // tie -> even (up)
        assertEquals((short) 0x3F81, Quantizers.toBf16(Float.intBitsToFloat(0x3F808001)));
    }

    // Hand-built blocks, decoded with GGML's formulas written out here, check the layouts.

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void q8_0Layout() {
        ByteBuffer b = le(34).putShort(Float.floatToFloat16(0.5f));
        for (int i = 0; i < 32; i++) b.put((byte) (i - 16));
        double[] y = ReferenceDequant.dequantize(GgmlType.Q8_0, b.array(), 32);
        for (int i = 0; i < 32; i++) assertEquals(0.5 * (i - 16), y[i]);
    }

    @Test
    void q4_0Layout() {
        // qs[j] = low nibble j (element j), high nibble 15-j (element j+16)
        ByteBuffer b = le(18).putShort(Float.floatToFloat16(2f));
        for (int j = 0; j < 16; j++) b.put((byte) (j | ((15 - j) << 4)));
        double[] y = ReferenceDequant.dequantize(GgmlType.Q4_0, b.array(), 32);
        for (int j = 0; j < 16; j++) {
            assertEquals(2.0 * (j - 8), y[j]);
            assertEquals(2.0 * (15 - j - 8), y[j + 16]);
        }
    }

    @Test
    void q4_KLayout() {
        // d = 1, dmin = 0.5; sub-block j: scale = j + 1 (j<4 low 6 bits; j>=4 split 4+2 bits), min = 2j+1
        int[] sc = new int[8], mn = new int[8];
        for (int j = 0; j < 8; j++) { sc[j] = 20 + j * 5; mn[j] = 2 * j + 33; }
        byte[] s = new byte[12];
        for (int j = 0; j < 4; j++) {
            s[j] = (byte) ((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
            s[j + 4] = (byte) ((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
            s[j + 8] = (byte) ((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
        }
        ByteBuffer b = le(144).putShort(Float.floatToFloat16(1f)).putShort(Float.floatToFloat16(0.5f)).put(s);
        // qs: 4 groups of 32 bytes; byte l of group g: low nibble = element 64g+l, high = element 64g+32+l
        int[] q = new int[256];
        for (int e = 0; e < 256; e++) q[e] = (e * 7 + 3) % 16;
        for (int g = 0; g < 4; g++) for (int l = 0; l < 32; l++) b.put((byte) (q[64 * g + l] | (q[64 * g + 32 + l] << 4)));
        double[] y = ReferenceDequant.dequantize(GgmlType.Q4_K, b.array(), 256);
        for (int e = 0; e < 256; e++) assertEquals(sc[e / 32] * q[e] - 0.5 * mn[e / 32], y[e], 1e-9, "element " + e);
    }

    @Test
    void q6_KLayout() {
        // ql[0..64) covers elements 0..127: byte l low = e l, byte l+32 low = e l+32, byte l high = e l+64,
        // byte l+32 high = e l+96; qh[l] bits 0-1,2-3,4-5,6-7 = high bits of e l, l+32, l+64, l+96.
        int[] q = new int[256];
        for (int e = 0; e < 256; e++) q[e] = (e * 13 + 5) % 64;
        byte[] ql = new byte[128], qh = new byte[64];
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int base = 128 * h;
                ql[64 * h + l] = (byte) ((q[base + l] & 15) | ((q[base + l + 64] & 15) << 4));
                ql[64 * h + l + 32] = (byte) ((q[base + l + 32] & 15) | ((q[base + l + 96] & 15) << 4));
                qh[32 * h + l] = (byte) ((q[base + l] >> 4) | ((q[base + l + 32] >> 4) << 2) | ((q[base + l + 64] >> 4) << 4) | ((q[base + l + 96] >> 4) << 6));
            }
        }
        ByteBuffer b = le(210).put(ql).put(qh);
        for (int j = 0; j < 16; j++) b.put((byte) (j * 9 - 70));
        b.putShort(Float.floatToFloat16(0.25f));
        double[] y = ReferenceDequant.dequantize(GgmlType.Q6_K, b.array(), 256);
        for (int e = 0; e < 256; e++) assertEquals(0.25 * ((e / 16) * 9 - 70) * (q[e] - 32), y[e], 1e-9, "element " + e);
    }

    @Test
    void f16AndBf16Layouts() {
        ByteBuffer b = le(4).putShort(Float.floatToFloat16(-1.5f)).putShort((short) 0x4049); // bf16 3.140625
        assertArrayEquals(new double[] {-1.5}, ReferenceDequant.dequantize(GgmlType.F16, b.array(), 1));
        byte[] bf = new byte[] {b.array()[2], b.array()[3]};
        assertArrayEquals(new double[] {3.140625}, ReferenceDequant.dequantize(GgmlType.BF16, bf, 1));
    }
}
