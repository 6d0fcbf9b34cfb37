package dev.starattn.tensor;

/**
 * One activation vector quantized to Q8_0 for the integer decode kernel ({@link NativeQ8}), the way
 * llama.cpp quantizes it: per block of 32, {@code d = max|x| / 127} (kept at f16 precision, as in
 * its block_q8_0), {@code q = rint(x * 127 / max|x|)}. {@link #abs} holds |q| (the kernel's unsigned
 * operand), so that the kernel folds signs once per weight block instead of twice.
 */
final class Q8Activation {
    final byte[] q, abs;
    final float[] d;

    private Q8Activation(int cols) {
        q = new byte[cols];
        abs = new byte[cols];
        d = new float[cols >> 5];
    }

    /** Quantizes x[off .. off + cols); cols is a multiple of 32. */
    static Q8Activation of(float[] x, int off, int cols) {
        Q8Activation a = new Q8Activation(cols);
        for (int b = 0; b < cols >> 5; b++) {
            int o = off + (b << 5);
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
            float id = amax != 0f ? 127f / amax : 0f;
            a.d[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
            for (int i = 0; i < 32; i++) {
                int v = (int) Math.rint(x[o + i] * id);
                a.q[(b << 5) + i] = (byte) v;
                a.abs[(b << 5) + i] = (byte) Math.abs(v);
            }
        }
        return a;
    }
}
