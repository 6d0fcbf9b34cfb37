package dev.starattn.tensor;

/**
 * One activation vector quantized for the native integer decode kernel ({@link NativeQ8}): per block
 * of 32, {@code d = max|x| / 32767}, {@code q = rint(x * 32767 / max|x|)} in -32767..32767. An int16
 * block keeps x to 1/65534 of its block maximum, so the logits stay where the f32 kernel puts them
 * (int8 blocks, llama.cpp's q8_0, moved them by up to 0.2 and changed greedy tokens in the oracle tests).
 */
final class Int16Activation {
    final short[] q;
    final float[] d;

    private Int16Activation(int cols) {
        q = new short[cols];
        d = new float[cols >> 5];
    }

    /** Quantizes x[off .. off + cols); cols is a multiple of 32. */
    static Int16Activation of(float[] x, int off, int cols) {
        Int16Activation a = new Int16Activation(cols);
        for (int b = 0; b < cols >> 5; b++) {
            int o = off + (b << 5);
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
            float id = amax != 0f ? 32767f / amax : 0f;
            a.d[b] = amax / 32767f;
            for (int i = 0; i < 32; i++) {
                float v = Math.max(-32767f, Math.min(32767f, x[o + i] * id));
                a.q[(b << 5) + i] = (short) (int) Math.rint(v);
            }
        }
        return a;
    }
}
