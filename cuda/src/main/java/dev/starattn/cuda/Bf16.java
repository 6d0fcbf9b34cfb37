package dev.starattn.cuda;

import dev.starattn.tensor.Quantizers;

/** bfloat16 arrays on the host (the rounding itself is {@link Quantizers#toBf16}). */
final class Bf16 {
    private Bf16() {}

    static float toFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    static short[] fromFloats(float[] x, int n) {
        short[] r = new short[n];
        for (int i = 0; i < n; i++) r[i] = Quantizers.toBf16(x[i]);
        return r;
    }

    static float[] toFloats(short[] h) {
        float[] r = new float[h.length];
        for (int i = 0; i < h.length; i++) r[i] = toFloat(h[i]);
        return r;
    }

    /** x rounded through bf16 and back (CPU references for the bf16 kernels). */
    static float[] round(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = toFloat(Quantizers.toBf16(x[i]));
        return r;
    }
}
