package dev.starattn.tensor;

import dev.starattn.cpu.VectorOps;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-blocked f32 kernel for the batched path: a strip of dequantized weight rows (heap,
 * row stride {@code k}) times a block of tokens, 4 rows x 4 tokens of vector accumulators.
 */
final class Gemm {
    private Gemm() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** Weight rows dequantized at once per thread. */
    static final int STRIP = dev.starattn.config.Switches.gemmStrip();
    /** Tokens per pass over a strip (keeps this many x rows hot in L2). */
    static final int TOKEN_BLOCK = dev.starattn.config.Switches.gemmTokenBlock();

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

    static float[] scratch(int n) {
        float[][] h = SCRATCH.get();
        if (h[0].length < n) h[0] = new float[n];
        return h[0];
    }

    /**
     * out[t*outStride + r0 + i] = dot(w[i*k ..], x[t*k ..]) for i < n, t < batch.
     */
    static void stripTimesX(float[] w, int n, int k, float[] x, int batch, float[] out, int outStride, int r0) {
        for (int tb = 0; tb < batch; tb += TOKEN_BLOCK) {
            int te = Math.min(batch, tb + TOKEN_BLOCK);
            int i = 0;
            for (; i + 4 <= n; i += 4) {
                int t = tb;
                for (; t + 4 <= te; t += 4) kernel4x4(w, i * k, x, t * k, k, out, outStride, t, r0 + i);
                for (; t < te; t++) kernel4x1(w, i * k, x, t * k, k, out, t * outStride + r0 + i);
            }
            for (; i < n; i++) {
                for (int t = tb; t < te; t++) out[t * outStride + r0 + i] = dot(w, i * k, x, t * k, k);
            }
        }
    }

    // Rotations by L/2, L/4, L/8, L/16 lanes (L = 16 with AVX-512); the steps whose rotation would
    // be 0 lanes (shorter vectors) are skipped by the L >= ... guards, which C2 folds away.
    private static final VectorShuffle<Float> ROT_HALF = rot(L / 2), ROT_QUARTER = rot(L / 4),
            ROT_EIGHTH = rot(L / 8), ROT_SIXTEENTH = rot(L / 16);

    private static VectorShuffle<Float> rot(int by) {
        return VectorShuffle.iota(F, Math.max(by, 0), 1, true);
    }

    private static void kernel4x4(float[] w, int wo, float[] x, int xo, int k, float[] out, int outStride, int t0, int r) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int w1 = wo + k, w2 = w1 + k, w3 = w2 + k;
        int x1 = xo + k, x2 = x1 + k, x3 = x2 + k;
        int bound = F.loopBound(k);
        int c = 0;
        for (; c < bound; c += L) {
            FloatVector v0 = FloatVector.fromArray(F, x, xo + c);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + c);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + c);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + c);
            FloatVector u = FloatVector.fromArray(F, w, wo + c);
            a00 = u.fma(v0, a00); a01 = u.fma(v1, a01); a02 = u.fma(v2, a02); a03 = u.fma(v3, a03);
            u = FloatVector.fromArray(F, w, w1 + c);
            a10 = u.fma(v0, a10); a11 = u.fma(v1, a11); a12 = u.fma(v2, a12); a13 = u.fma(v3, a13);
            u = FloatVector.fromArray(F, w, w2 + c);
            a20 = u.fma(v0, a20); a21 = u.fma(v1, a21); a22 = u.fma(v2, a22); a23 = u.fma(v3, a23);
            u = FloatVector.fromArray(F, w, w3 + c);
            a30 = u.fma(v0, a30); a31 = u.fma(v1, a31); a32 = u.fma(v2, a32); a33 = u.fma(v3, a33);
        }
        int o0 = t0 * outStride + r, o1 = o0 + outStride, o2 = o1 + outStride, o3 = o2 + outStride;
        // Lane sums in a fixed order (the same bits in every JIT tier; reduceLanes' order is left open),
        // written out here rather than through VectorOps.sum: called from this large method it costs a
        // third of prefill speed (most likely not inlined by C2, so that the vectors are boxed).
        a00 = a00.add(a00.rearrange(ROT_HALF));
        a01 = a01.add(a01.rearrange(ROT_HALF));
        a02 = a02.add(a02.rearrange(ROT_HALF));
        a03 = a03.add(a03.rearrange(ROT_HALF));
        a10 = a10.add(a10.rearrange(ROT_HALF));
        a11 = a11.add(a11.rearrange(ROT_HALF));
        a12 = a12.add(a12.rearrange(ROT_HALF));
        a13 = a13.add(a13.rearrange(ROT_HALF));
        a20 = a20.add(a20.rearrange(ROT_HALF));
        a21 = a21.add(a21.rearrange(ROT_HALF));
        a22 = a22.add(a22.rearrange(ROT_HALF));
        a23 = a23.add(a23.rearrange(ROT_HALF));
        a30 = a30.add(a30.rearrange(ROT_HALF));
        a31 = a31.add(a31.rearrange(ROT_HALF));
        a32 = a32.add(a32.rearrange(ROT_HALF));
        a33 = a33.add(a33.rearrange(ROT_HALF));
        if (L >= 4) {
            a00 = a00.add(a00.rearrange(ROT_QUARTER));
            a01 = a01.add(a01.rearrange(ROT_QUARTER));
            a02 = a02.add(a02.rearrange(ROT_QUARTER));
            a03 = a03.add(a03.rearrange(ROT_QUARTER));
            a10 = a10.add(a10.rearrange(ROT_QUARTER));
            a11 = a11.add(a11.rearrange(ROT_QUARTER));
            a12 = a12.add(a12.rearrange(ROT_QUARTER));
            a13 = a13.add(a13.rearrange(ROT_QUARTER));
            a20 = a20.add(a20.rearrange(ROT_QUARTER));
            a21 = a21.add(a21.rearrange(ROT_QUARTER));
            a22 = a22.add(a22.rearrange(ROT_QUARTER));
            a23 = a23.add(a23.rearrange(ROT_QUARTER));
            a30 = a30.add(a30.rearrange(ROT_QUARTER));
            a31 = a31.add(a31.rearrange(ROT_QUARTER));
            a32 = a32.add(a32.rearrange(ROT_QUARTER));
            a33 = a33.add(a33.rearrange(ROT_QUARTER));
        }
        if (L >= 8) {
            a00 = a00.add(a00.rearrange(ROT_EIGHTH));
            a01 = a01.add(a01.rearrange(ROT_EIGHTH));
            a02 = a02.add(a02.rearrange(ROT_EIGHTH));
            a03 = a03.add(a03.rearrange(ROT_EIGHTH));
            a10 = a10.add(a10.rearrange(ROT_EIGHTH));
            a11 = a11.add(a11.rearrange(ROT_EIGHTH));
            a12 = a12.add(a12.rearrange(ROT_EIGHTH));
            a13 = a13.add(a13.rearrange(ROT_EIGHTH));
            a20 = a20.add(a20.rearrange(ROT_EIGHTH));
            a21 = a21.add(a21.rearrange(ROT_EIGHTH));
            a22 = a22.add(a22.rearrange(ROT_EIGHTH));
            a23 = a23.add(a23.rearrange(ROT_EIGHTH));
            a30 = a30.add(a30.rearrange(ROT_EIGHTH));
            a31 = a31.add(a31.rearrange(ROT_EIGHTH));
            a32 = a32.add(a32.rearrange(ROT_EIGHTH));
            a33 = a33.add(a33.rearrange(ROT_EIGHTH));
        }
        if (L >= 16) {
            a00 = a00.add(a00.rearrange(ROT_SIXTEENTH));
            a01 = a01.add(a01.rearrange(ROT_SIXTEENTH));
            a02 = a02.add(a02.rearrange(ROT_SIXTEENTH));
            a03 = a03.add(a03.rearrange(ROT_SIXTEENTH));
            a10 = a10.add(a10.rearrange(ROT_SIXTEENTH));
            a11 = a11.add(a11.rearrange(ROT_SIXTEENTH));
            a12 = a12.add(a12.rearrange(ROT_SIXTEENTH));
            a13 = a13.add(a13.rearrange(ROT_SIXTEENTH));
            a20 = a20.add(a20.rearrange(ROT_SIXTEENTH));
            a21 = a21.add(a21.rearrange(ROT_SIXTEENTH));
            a22 = a22.add(a22.rearrange(ROT_SIXTEENTH));
            a23 = a23.add(a23.rearrange(ROT_SIXTEENTH));
            a30 = a30.add(a30.rearrange(ROT_SIXTEENTH));
            a31 = a31.add(a31.rearrange(ROT_SIXTEENTH));
            a32 = a32.add(a32.rearrange(ROT_SIXTEENTH));
            a33 = a33.add(a33.rearrange(ROT_SIXTEENTH));
        }
        out[o0] = a00.lane(0) + tail(w, wo, x, xo, c, k);
        out[o1] = a01.lane(0) + tail(w, wo, x, x1, c, k);
        out[o2] = a02.lane(0) + tail(w, wo, x, x2, c, k);
        out[o3] = a03.lane(0) + tail(w, wo, x, x3, c, k);
        out[o0 + 1] = a10.lane(0) + tail(w, w1, x, xo, c, k);
        out[o1 + 1] = a11.lane(0) + tail(w, w1, x, x1, c, k);
        out[o2 + 1] = a12.lane(0) + tail(w, w1, x, x2, c, k);
        out[o3 + 1] = a13.lane(0) + tail(w, w1, x, x3, c, k);
        out[o0 + 2] = a20.lane(0) + tail(w, w2, x, xo, c, k);
        out[o1 + 2] = a21.lane(0) + tail(w, w2, x, x1, c, k);
        out[o2 + 2] = a22.lane(0) + tail(w, w2, x, x2, c, k);
        out[o3 + 2] = a23.lane(0) + tail(w, w2, x, x3, c, k);
        out[o0 + 3] = a30.lane(0) + tail(w, w3, x, xo, c, k);
        out[o1 + 3] = a31.lane(0) + tail(w, w3, x, x1, c, k);
        out[o2 + 3] = a32.lane(0) + tail(w, w3, x, x2, c, k);
        out[o3 + 3] = a33.lane(0) + tail(w, w3, x, x3, c, k);
    }

    private static void kernel4x1(float[] w, int wo, float[] x, int xo, int k, float[] out, int o) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int w1 = wo + k, w2 = w1 + k, w3 = w2 + k;
        int bound = F.loopBound(k);
        int c = 0;
        for (; c < bound; c += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + c);
            a0 = FloatVector.fromArray(F, w, wo + c).fma(v, a0);
            a1 = FloatVector.fromArray(F, w, w1 + c).fma(v, a1);
            a2 = FloatVector.fromArray(F, w, w2 + c).fma(v, a2);
            a3 = FloatVector.fromArray(F, w, w3 + c).fma(v, a3);
        }
        out[o] = VectorOps.sum(a0) + tail(w, wo, x, xo, c, k);
        out[o + 1] = VectorOps.sum(a1) + tail(w, w1, x, xo, c, k);
        out[o + 2] = VectorOps.sum(a2) + tail(w, w2, x, xo, c, k);
        out[o + 3] = VectorOps.sum(a3) + tail(w, w3, x, xo, c, k);
    }

    private static float tail(float[] w, int wo, float[] x, int xo, int from, int k) {
        float s = 0;
        for (int c = from; c < k; c++) s += w[wo + c] * x[xo + c];
        return s;
    }

    static float dot(float[] w, int wo, float[] x, int xo, int k) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        int c = 0;
        for (; c + 2 * L <= k; c += 2 * L) {
            a0 = FloatVector.fromArray(F, w, wo + c).fma(FloatVector.fromArray(F, x, xo + c), a0);
            a1 = FloatVector.fromArray(F, w, wo + c + L).fma(FloatVector.fromArray(F, x, xo + c + L), a1);
        }
        for (; c + L <= k; c += L) {
            a0 = FloatVector.fromArray(F, w, wo + c).fma(FloatVector.fromArray(F, x, xo + c), a0);
        }
        return VectorOps.sum(a0.add(a1)) + tail(w, wo, x, xo, c, k);
    }
}
