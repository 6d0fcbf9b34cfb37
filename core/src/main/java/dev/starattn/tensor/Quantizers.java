package dev.starattn.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * float[] to GGML tensor bytes in GGML's exact block layouts (little-endian). The quantization is
 * simple (round to nearest with a max-abs scale, no error search), not llama.cpp's optimal one,
 * but every block decodes with GGML's own dequantization formulas.
 */
public final class Quantizers {
    private Quantizers() {}

    public static byte[] quantize(GgmlType type, float[] x) {
        if (x.length % type.blockSize != 0) {
            throw new IllegalArgumentException(type + " needs a multiple of " + type.blockSize + " values, got " + x.length);
        }
        ByteBuffer out = ByteBuffer.allocate((int) type.byteSize(x.length)).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> { for (float v : x) out.putFloat(v); }
            case F16 -> { for (float v : x) out.putShort(Float.floatToFloat16(v)); }
            case BF16 -> { for (float v : x) out.putShort(toBf16(v)); }
            case Q8_0 -> { for (int b = 0; b < x.length; b += 32) q8_0(x, b, out); }
            case Q4_0 -> { for (int b = 0; b < x.length; b += 32) q4_0(x, b, out); }
            case Q4_K -> { for (int b = 0; b < x.length; b += 256) q4_K(x, b, out); }
            case Q6_K -> { for (int b = 0; b < x.length; b += 256) q6_K(x, b, out); }
        }
        return out.array();
    }

    /** f32 to bf16 with round-to-nearest-even, NaN kept quiet. */
    public static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) return (short) ((bits >>> 16) | 0x40);
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    private static float f16r(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    private static void q8_0(float[] x, int o, ByteBuffer out) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
        float d = f16r(amax / 127f);
        float id = d != 0 ? 1f / d : 0f;
        out.putShort(Float.floatToFloat16(d));
        for (int i = 0; i < 32; i++) out.put((byte) Math.max(-127, Math.min(127, Math.round(x[o + i] * id))));
    }

    private static void q4_0(float[] x, int o, ByteBuffer out) {
        // As GGML: the value of largest magnitude maps to -8, so d may be negative.
        float amax = 0, max = 0;
        for (int i = 0; i < 32; i++) {
            float v = x[o + i];
            if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
        }
        float d = f16r(max / -8f);
        float id = d != 0 ? 1f / d : 0f;
        out.putShort(Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            int lo = Math.max(0, Math.min(15, Math.round(x[o + j] * id) + 8));
            int hi = Math.max(0, Math.min(15, Math.round(x[o + j + 16] * id) + 8));
            out.put((byte) (lo | (hi << 4)));
        }
    }

    private static void q4_K(float[] x, int o, ByteBuffer out) {
        // 8 sub-blocks of 32: x ~= d*sc[j]*q - dmin*m[j], q in 0..15, sc and m 6-bit.
        float[] scale = new float[8], min = new float[8];
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = 0; // GGML clamps the minimum to <= 0
            for (int i = 0; i < 32; i++) {
                float v = x[o + 32 * j + i];
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            scale[j] = (hi - lo) / 15f;
            min[j] = -lo;
        }
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) { maxScale = Math.max(maxScale, scale[j]); maxMin = Math.max(maxMin, min[j]); }
        float d = f16r(maxScale / 63f), dmin = f16r(maxMin / 63f);
        int[] ls = new int[8], lm = new int[8];
        for (int j = 0; j < 8; j++) {
            ls[j] = d > 0 ? Math.min(63, Math.round(scale[j] / d)) : 0;
            lm[j] = dmin > 0 ? Math.min(63, Math.round(min[j] / dmin)) : 0;
        }
        byte[] sc = new byte[12];
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                sc[j] = (byte) ls[j];
                sc[j + 4] = (byte) lm[j];
            } else {
                sc[j + 4] = (byte) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                sc[j - 4] |= (byte) ((ls[j] >> 4) << 6);
                sc[j] |= (byte) ((lm[j] >> 4) << 6);
            }
        }
        int[] q = new int[256];
        for (int j = 0; j < 8; j++) {
            float s = d * ls[j], m = dmin * lm[j];
            for (int i = 0; i < 32; i++) {
                int e = 32 * j + i;
                q[e] = s > 0 ? Math.max(0, Math.min(15, Math.round((x[o + e] + m) / s))) : 0;
            }
        }
        out.putShort(Float.floatToFloat16(d));
        out.putShort(Float.floatToFloat16(dmin));
        out.put(sc);
        for (int g = 0; g < 256; g += 64) {
            for (int l = 0; l < 32; l++) out.put((byte) (q[g + l] | (q[g + l + 32] << 4)));
        }
    }

    private static void q6_K(float[] x, int o, ByteBuffer out) {
        // 16 sub-blocks of 16: x ~= d*sc[j]*(q-32), q in 0..63, sc int8.
        float[] scale = new float[16];
        float maxScale = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0;
            for (int i = 0; i < 16; i++) amax = Math.max(amax, Math.abs(x[o + 16 * j + i]));
            scale[j] = amax / 31f;
            maxScale = Math.max(maxScale, scale[j]);
        }
        float d = f16r(maxScale / 127f);
        int[] sc = new int[16];
        for (int j = 0; j < 16; j++) sc[j] = d > 0 ? Math.min(127, Math.round(scale[j] / d)) : 0;
        int[] q = new int[256];
        for (int e = 0; e < 256; e++) {
            float s = d * sc[e / 16];
            q[e] = (s > 0 ? Math.max(-32, Math.min(31, Math.round(x[o + e] / s))) : 0) + 32;
        }
        byte[] ql = new byte[128], qh = new byte[64];
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                int q1 = q[n + l], q2 = q[n + l + 32], q3 = q[n + l + 64], q4 = q[n + l + 96];
                ql[n / 2 + l] = (byte) ((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[n / 2 + l + 32] = (byte) ((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[n / 4 + l] = (byte) ((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
        out.put(ql);
        out.put(qh);
        for (int j = 0; j < 16; j++) out.put((byte) sc[j]);
        out.putShort(Float.floatToFloat16(d));
    }
}
