package dev.starattn.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The softmax's exponential for {@link AttentionKernel}: scores are kept in base 2, so the kernel needs 2^x, here
 * as a polynomial that gives the same bits in every JIT tier, on a vector of scores or on one float.
 */
final class SoftmaxExp2 {
    private SoftmaxExp2() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /**
     * Softmax exponentials through the polynomial 2^x of {@link #expInPlace} (default: the same bits
     * in every JIT tier) or the Vector API's EXP ({@code -Dstarattn.softmax-exp=libm}, whose last
     * bits change when C2 compiles it): a switch for `starattn bench kernel` A/B runs only.
     */
    private static final boolean LIBM_EXP = dev.starattn.config.Switches.softmaxExpLibm();

    /** log2(e) and ln(2): scores are kept in base 2 (scaled by log2(e)), so that the softmax needs 2^x. */
    static final double LOG2E = 1.4426950408889634, LN2 = 0.6931471805599453;
    private static final float LN2F = (float) LN2;
    /** Minimax coefficients of 2^r - 1 = r * (C1 + r * (C2 + ...)) on [-1/2, 1/2] (0.93 ulp in f32 Horner). */
    private static final float C1 = 0.6931471824645996f, C2 = 0.24022647738456726f, C3 = 0.055503323674201965f,
            C4 = 0.009618435986340046f, C5 = 0.0013398868031799793f, C6 = 1.5353725757449865e-4f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer. */
    private static final float ROUND = 12582912f;
    /** Arguments are clamped to [-127, 0]; n = -127 builds the exponent bits of 0, so 2^x = 0 there. */
    private static final float EXP2_LO = -127f;

    /**
     * a[off..off+n) = 2^(a - m) in place (n a multiple of the vector length, every a &lt;= m, -inf
     * allowed: it gives 0); returns their sum in a fixed order. 2^x as n + r with n = round(x) and
     * r = x - n exact in [-1/2, 1/2], a degree-6 polynomial for 2^r and 2^n through the exponent
     * bits: within about 1 ulp, of fma/add/mul/shift only, so that every JIT tier gives the same
     * bits ({@link #exp2(float)} is the same formula on one float). Written out here, not called:
     * a vector passed to a method that C2 has compiled on its own (and then does not inline) is
     * boxed, which cost a third of the kernel's speed.
     */
    static float expInPlace(float[] a, int off, int n, float m) {
        FloatVector mv = FloatVector.broadcast(S, m), acc = FloatVector.zero(S), one = FloatVector.broadcast(S, 1f);
        FloatVector c1 = FloatVector.broadcast(S, C1), c2 = FloatVector.broadcast(S, C2), c3 = FloatVector.broadcast(S, C3);
        FloatVector c4 = FloatVector.broadcast(S, C4), c5 = FloatVector.broadcast(S, C5), c6 = FloatVector.broadcast(S, C6);
        for (int j = 0; j < n; j += L) {
            FloatVector x = FloatVector.fromArray(S, a, off + j).sub(mv);
            FloatVector e;
            if (LIBM_EXP) {
                e = x.mul(LN2F).lanewise(VectorOperators.EXP);
            } else {
                x = x.max(EXP2_LO);
                FloatVector t = x.add(ROUND);
                FloatVector r = x.sub(t.sub(ROUND));
                FloatVector p = r.fma(c6, c5).fma(r, c4).fma(r, c3).fma(r, c2).fma(r, c1).fma(r, one);
                FloatVector pow2n = ((jdk.incubator.vector.IntVector) t.reinterpretAsInts())
                        .sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
                e = p.mul(pow2n);
            }
            e.intoArray(a, off + j);
            acc = acc.add(e);
        }
        if (L >= 16) acc = acc.add(acc.rearrange(FOLD_8));
        if (L >= 8) acc = acc.add(acc.rearrange(FOLD_4));
        if (L >= 4) acc = acc.add(acc.rearrange(FOLD_2));
        if (L >= 2) acc = acc.add(acc.rearrange(FOLD_1));
        return acc.lane(0);
    }

    /** 2^x for x &lt;= 0 (-inf gives 0): one lane of {@link #expInPlace}, the same bits. */
    static float exp2(float x) {
        if (LIBM_EXP) return (float) Math.exp(x * LN2F);
        x = Math.max(x, EXP2_LO);
        float t = x + ROUND;
        float r = x - (t - ROUND);
        float p = Math.fma(r, C6, C5);
        p = Math.fma(p, r, C4);
        p = Math.fma(p, r, C3);
        p = Math.fma(p, r, C2);
        p = Math.fma(p, r, C1);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - (0x4B400000 - 127)) << 23);
    }

    /** Rotations by 8, 4, 2, 1 lanes for fixed-order lane sums written out in the hot loops. */
    static final VectorShuffle<Float> FOLD_8 = fold(8), FOLD_4 = fold(4), FOLD_2 = fold(2), FOLD_1 = fold(1);

    private static VectorShuffle<Float> fold(int by) {
        return VectorShuffle.iota(S, by < L ? by : 0, 1, true);
    }
}
