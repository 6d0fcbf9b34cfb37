package dev.starattn.attention;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * exp(x) for x <= 0, the only arguments an online softmax produces (scores minus their running
 * maximum). The Vector API's lanewise EXP is a general libm-grade routine; this one is the usual
 * range reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial for e^r and 2^n put into the
 * exponent bits: about 13 vector instructions, relative error below 3e-7 (a few float ulps,
 * SoftmaxExpTest). Arguments below -87.3 (including -inf, the masked keys) give exactly 0.
 */
final class SoftmaxExp {
    private SoftmaxExp() {}

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;       // ln 2 split so that n * LN2_HI is exact
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;           // 1.5 * 2^23: adding it rounds to an integer
    private static final float MIN_ARG = -87.3f;            // below: the result would be subnormal
    private static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720;

    static FloatVector expNonPositive(FloatVector x) {
        var underflow = x.compare(VectorOperators.LT, MIN_ARG); // also true for -inf and false for NaN
        FloatVector xc = x.max(MIN_ARG);
        FloatVector t = xc.fma(LOG2E, ROUND);                  // n + ROUND, n = round(x / ln2)
        FloatVector n = t.sub(ROUND);
        var sp = x.species();
        FloatVector r = n.fma(FloatVector.broadcast(sp, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector one = FloatVector.broadcast(sp, 1f);
        FloatVector p = r.fma(C6, C5);
        p = p.fma(r, FloatVector.broadcast(sp, C4));
        p = p.fma(r, FloatVector.broadcast(sp, C3));
        p = p.fma(r, FloatVector.broadcast(sp, C2));
        p = p.fma(r, one);
        p = p.fma(r, one);
        // 2^n: the low bits of t hold n (two's complement); shift them into the exponent field.
        IntVector scale = t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
        FloatVector e = p.reinterpretAsInts().add(scale).reinterpretAsFloats();
        return e.blend(0f, underflow);
    }
}
