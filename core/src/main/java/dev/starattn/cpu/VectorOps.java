package dev.starattn.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/** Vectorised element-wise and reduction helpers over heap float arrays (single-threaded). */
public final class VectorOps {
    private VectorOps() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

    private static final float EXP_LO = -87.33654f; // below: exp underflows (subnormal); taken as 0
    private static final float EXP_HI = 88.72283f;  // above: exp overflows
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;   // 1.5 * 2^23: adding it rounds to an integer

    /**
     * exp of every lane, to about 2 ulp (Cephes expf: range reduction by ln 2, a degree-6
     * polynomial, scaling by 2^n through the exponent bits); {@code exp(-inf) = 0}, lanes below
     * {@value #EXP_LO} give 0. Built only of IEEE operations that every execution tier computes
     * alike (fma, add, mul, integer shifts), so that the result does not depend on whether the
     * caller runs interpreted, C1- or C2-compiled. {@code lanewise(VectorOperators.EXP)} does:
     * C2 calls a vector math stub while the interpreter and C1 compute {@code Math.exp} per lane,
     * which differ in the last bits, making attention differ between runs as code warms up.
     */
    public static FloatVector exp(FloatVector x) {
        var species = x.species();
        FloatVector xc = x.max(EXP_LO).min(EXP_HI);
        FloatVector t = xc.fma(FloatVector.broadcast(species, LOG2E), FloatVector.broadcast(species, ROUND));
        FloatVector n = t.sub(ROUND); // round(x / ln 2)
        FloatVector r = n.fma(FloatVector.broadcast(species, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(species, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(species, 1.9875691500e-4f);
        p = p.fma(r, FloatVector.broadcast(species, 1.3981999507e-3f));
        p = p.fma(r, FloatVector.broadcast(species, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(species, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(species, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(species, 5.0000001201e-1f));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        // n = 128 (x near the top of the range) scales by 2^127 * 2: 2^128 is not a float.
        FloatVector t127 = t.min(ROUND + 127f);
        y = y.mul(t.sub(t127).add(1f));
        // 2^n from the integer bits of t (n + 0x4B400000), rebiased to 127 and shifted into the exponent.
        jdk.incubator.vector.IntVector bits = ((jdk.incubator.vector.IntVector) t127.reinterpretAsInts())
                .sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23);
        FloatVector e = y.mul(bits.reinterpretAsFloats());
        return e.blend(0f, x.compare(VectorOperators.LT, EXP_LO));
    }

    /**
     * The sum of the lanes in a fixed order (halves added pairwise, then lane 0): the same bits in
     * every execution tier, unlike {@code reduceLanes(VectorOperators.ADD)}, whose order the
     * Vector API leaves open (the interpreter adds lane by lane, C2 may add in a tree).
     */
    public static float sum(FloatVector v) {
        if (v.species() != F || L > 16) return sumAnySpecies(v);
        // Constant shuffles, so that C2 emits one permute and one add per step.
        if (L == 16) v = v.add(v.rearrange(ROT8));
        if (L >= 8) v = v.add(v.rearrange(ROT4));
        if (L >= 4) v = v.add(v.rearrange(ROT2));
        if (L >= 2) v = v.add(v.rearrange(ROT1));
        return v.lane(0);
    }

    /** Rotations by 8, 4, 2, 1 lanes (null where not shorter than a vector). */
    private static final VectorShuffle<Float> ROT8 = rotation(8), ROT4 = rotation(4), ROT2 = rotation(2), ROT1 = rotation(1);

    private static VectorShuffle<Float> rotation(int by) {
        return by < L ? VectorShuffle.iota(F, by, 1, true) : null;
    }

    private static float sumAnySpecies(FloatVector v) {
        for (int half = v.length() / 2; half >= 1; half /= 2) v = v.add(v.rearrange(VectorShuffle.iota(v.species(), half, 1, true)));
        return v.lane(0);
    }

    /** Scalar {@link #exp(FloatVector)}: the same formula, the same bits as one of its lanes. */
    public static float exp(float x) {
        if (x < EXP_LO) return 0f;
        float xc = Math.min(x, EXP_HI);
        float t = Math.fma(xc, LOG2E, ROUND);
        float n = t - ROUND;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float p = 1.9875691500e-4f;
        p = Math.fma(p, r, 1.3981999507e-3f);
        p = Math.fma(p, r, 8.3334519073e-3f);
        p = Math.fma(p, r, 4.1665795894e-2f);
        p = Math.fma(p, r, 1.6666665459e-1f);
        p = Math.fma(p, r, 5.0000001201e-1f);
        float y = Math.fma(p, r * r, r) + 1f;
        float t127 = Math.min(t, ROUND + 127f);
        y *= t - t127 + 1f;
        int bits = (Float.floatToRawIntBits(t127) - (0x4B400000 - 127)) << 23;
        return y * Float.intBitsToFloat(bits);
    }

    /** Shorts, one per float lane. */
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(L * 16));

    /**
     * dst[dstOff + i] = the IEEE half a[off + i] as a float, for i < n: exact for every value
     * (subnormals, infinities, NaN), the same bits as {@link Float#float16ToFloat}.
     */
    public static void halfToFloat(short[] a, int off, float[] dst, int dstOff, int n) {
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            halfToFloat(jdk.incubator.vector.ShortVector.fromArray(H, a, off + i)).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) dst[dstOff + i] = Float.float16ToFloat(a[off + i]);
    }

    /** L halves (as shorts) to L floats, exact (as {@link #halfToFloat(short[], int, float[], int, int)}). */
    public static FloatVector halfToFloat(jdk.incubator.vector.ShortVector h) {
        jdk.incubator.vector.IntVector i = (jdk.incubator.vector.IntVector) h.convertShape(VectorOperators.S2I, jdk.incubator.vector.IntVector.SPECIES_PREFERRED, 0);
        // The sign-extended half shifted left by 13: the sign lands in bit 31 (bits 30..28 are
        // copies of it, cleared), exponent and mantissa in float position; multiplying by 2^112
        // rebiases the exponent, exact for normals and subnormals (the result is a normal float).
        jdk.incubator.vector.IntVector x = i.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000);
        FloatVector f = x.reinterpretAsFloats().mul(0x1p112f);
        var infNan = i.and(0x7C00).compare(VectorOperators.EQ, 0x7C00);
        if (infNan.anyTrue()) { // rare: infinities; NaN keep their payload and are quiet, as in float16ToFloat
            var nan = i.and(0x7FFF).compare(VectorOperators.GT, 0x7C00);
            f = f.reinterpretAsInts().blend(x.or(0x7F800000), infNan).blend(x.or(0x7FC00000), nan).reinterpretAsFloats();
        }
        return f;
    }

    /** sum_i a[aOff + i] * b[bOff + i] for i < n. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
            s1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), s1);
            s2 = FloatVector.fromArray(F, a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), s2);
            s3 = FloatVector.fromArray(F, a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), s3);
        }
        for (; i + L <= n; i += L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
        }
        float s = VectorOps.sum(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    /** y[yOff + i] += alpha * x[xOff + i] for i < n. */
    public static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector va = FloatVector.broadcast(F, alpha);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(va, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    /** x[off + i] *= s for i < n. */
    public static void scale(float[] x, int off, float s, int n) {
        int i = 0;
        for (; i + L <= n; i += L) FloatVector.fromArray(F, x, off + i).mul(s).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= s;
    }

    /** out[outOff + i] = a[aOff + i] + b[bOff + i] for i < n (out may alias a or b). */
    public static void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, a, aOff + i).add(FloatVector.fromArray(F, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = a[aOff + i] + b[bOff + i];
    }

    /** y[i] += x[i] for i < n (residual add). */
    public static void addInPlace(float[] y, int yOff, float[] x, int xOff, int n) {
        add(y, yOff, x, xOff, y, yOff, n);
    }

    /** sum of squares of x[off .. off + n). */
    public static float sumOfSquares(float[] x, int off, int n) {
        return dot(x, off, x, off, n);
    }

    /**
     * RMSNorm: out[outOff + i] = x[off + i] / sqrt(mean(x^2) + eps) * weight[i]. The mean of
     * squares is accumulated in f32 vector lanes (n is a hidden size, a few thousand at most).
     * out may alias x.
     */
    public static void rmsNorm(float[] x, int off, float[] weight, float eps, float[] out, int outOff, int n) {
        float ss = sumOfSquares(x, off, n);
        float inv = (float) (1.0 / Math.sqrt(ss / n + (double) eps));
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(F, x, off + i).mul(inv).mul(FloatVector.fromArray(F, weight, i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = x[off + i] * inv * weight[i];
    }

    /** Index of the largest of x[off .. off + n) relative to off (first one on ties); -1 when n == 0. NaN is ignored unless all are NaN. */
    public static int maxIndex(float[] x, int off, int n) {
        if (n <= 0) return -1;
        float m = max(x, off, n);
        for (int i = 0; i < n; i++) if (x[off + i] == m) return i;
        return 0; // all NaN
    }

    /** Largest of x[off .. off + n); -inf when n == 0. */
    public static float max(float[] x, int off, int n) {
        FloatVector vm = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            // NaN-ignoring max: keep vm where v is NaN
            vm = vm.blend(v, v.compare(VectorOperators.GT, vm));
        }
        float m = vm.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) if (x[off + i] > m) m = x[off + i];
        return m;
    }

    /**
     * Numerically stable softmax of x[off .. off + n) in place; returns log(sum exp(x - max)) + max,
     * the log-sum-exp of the inputs.
     */
    public static float softmaxInPlace(float[] x, int off, int n) {
        if (n <= 0) return Float.NEGATIVE_INFINITY;
        float m = max(x, off, n);
        if (m == Float.NEGATIVE_INFINITY) { // all masked: define as uniform zeros
            java.util.Arrays.fill(x, off, off + n, 0f);
            return Float.NEGATIVE_INFINITY;
        }
        FloatVector vmax = FloatVector.broadcast(F, m);
        FloatVector vs = FloatVector.zero(F);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector e = exp(FloatVector.fromArray(F, x, off + i).sub(vmax));
            e.intoArray(x, off + i);
            vs = vs.add(e);
        }
        float s = VectorOps.sum(vs);
        for (; i < n; i++) {
            float e = exp(x[off + i] - m);
            x[off + i] = e;
            s += e;
        }
        scale(x, off, 1f / s, n);
        return (float) (Math.log(s) + m);
    }

    /** x[off + i] = silu(x[off + i]) = x / (1 + exp(-x)). */
    public static void silu(float[] x, int off, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            v.div(exp(v.neg()).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = v / (1f + exp(-v));
        }
    }

    /** out[i] = silu(gate[i]) * up[i] for i < n (out may alias gate or up). */
    public static void swiglu(float[] gate, float[] up, float[] out, int n) {
        swiglu(gate, 0, up, 0, out, 0, n);
    }

    /** out[outOff + i] = silu(gate[gOff + i]) * up[uOff + i] for i < n. */
    public static void swiglu(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, gOff + i);
            FloatVector u = FloatVector.fromArray(F, up, uOff + i);
            g.mul(u).div(exp(g.neg()).add(1f)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            float g = gate[gOff + i];
            out[outOff + i] = g * up[uOff + i] / (1f + exp(-g));
        }
    }
}
