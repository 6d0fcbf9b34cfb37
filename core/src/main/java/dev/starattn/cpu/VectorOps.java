package dev.starattn.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Vectorised element-wise and reduction helpers over heap float arrays (single-threaded). */
public final class VectorOps {
    private VectorOps() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int L = F.length();

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
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
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
            FloatVector e = FloatVector.fromArray(F, x, off + i).sub(vmax).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            vs = vs.add(e);
        }
        float s = vs.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - m);
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
            v.div(v.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            float v = x[off + i];
            x[off + i] = v / (1f + (float) Math.exp(-v));
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
            g.mul(u).div(g.neg().lanewise(VectorOperators.EXP).add(1f)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            float g = gate[gOff + i];
            out[outOff + i] = g * up[uOff + i] / (1f + (float) Math.exp(-g));
        }
    }
}
