package dev.starattn.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

class VectorOpsTest {
    private static final int[] SIZES = {0, 1, 5, 15, 16, 17, 31, 63, 64, 65, 100, 257, 1000};

    private static float[] rnd(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    @Test
    void halfToFloatGivesTheBitsOfFloat16ToFloatForEveryHalf() {
        short[] all = new short[65536 + 7];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        for (int off : new int[] {0, 3}) {
            float[] got = new float[all.length];
            VectorOps.halfToFloat(all, off, got, 1, all.length - off - 1);
            for (int i = 0; i < all.length - off - 1; i++) {
                assertEquals(Float.floatToRawIntBits(Float.float16ToFloat(all[off + i])), Float.floatToRawIntBits(got[1 + i]),
                        "half 0x" + Integer.toHexString(all[off + i] & 0xFFFF));
            }
        }
    }

    @Test
    void dotAxpyScaleAdd() {
        Random r = new Random(1);
        for (int n : SIZES) {
            float[] a = rnd(r, n + 3, 1), b = rnd(r, n + 5, 1);
            double ref = 0, abs = 0;
            for (int i = 0; i < n; i++) { ref += (double) a[i + 3] * b[i + 5]; abs += Math.abs((double) a[i + 3] * b[i + 5]); }
            assertEquals(ref, VectorOps.dot(a, 3, b, 5, n), 1e-6 * abs + 1e-12);

            float[] y = b.clone();
            VectorOps.axpy(0.7f, a, 3, y, 5, n);
            for (int i = 0; i < n; i++) assertEquals(b[i + 5] + 0.7f * a[i + 3], y[i + 5], 1e-6 * (1 + Math.abs(y[i + 5])));
            for (int i = 0; i < 5; i++) assertEquals(b[i], y[i]);

            float[] s = a.clone();
            VectorOps.scale(s, 3, -1.5f, n);
            for (int i = 0; i < n; i++) assertEquals(a[i + 3] * -1.5f, s[i + 3]);

            float[] o = new float[n + 2];
            VectorOps.add(a, 3, b, 5, o, 2, n);
            for (int i = 0; i < n; i++) assertEquals(a[i + 3] + b[i + 5], o[i + 2]);
            float[] y2 = b.clone();
            VectorOps.addInPlace(y2, 5, a, 3, n);
            for (int i = 0; i < n; i++) assertEquals(a[i + 3] + b[i + 5], y2[i + 5]);
        }
    }

    @Test
    void rmsNorm() {
        Random r = new Random(2);
        for (int n : SIZES) {
            if (n == 0) continue;
            float[] x = rnd(r, n + 1, 3), w = rnd(r, n, 1), out = new float[n + 4];
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double) x[i + 1] * x[i + 1];
            double inv = 1 / Math.sqrt(ss / n + 1e-5);
            VectorOps.rmsNorm(x, 1, w, 1e-5f, out, 4, n);
            for (int i = 0; i < n; i++) assertEquals(x[i + 1] * inv * w[i], out[i + 4], 1e-5 * Math.abs(x[i + 1] * inv * w[i]) + 1e-7);
            VectorOps.rmsNorm(x, 1, w, 1e-5f, x, 1, n); // in place
            for (int i = 0; i < n; i++) assertEquals(out[i + 4], x[i + 1], 0f);
        }
    }

    @Test
    void softmaxAndMax() {
        Random r = new Random(3);
        for (int n : SIZES) {
            if (n == 0) continue;
            float[] x = rnd(r, n + 2, 10);
            if (n > 3) x[2 + n / 2] = Float.NEGATIVE_INFINITY;
            float[] orig = x.clone();
            double m = Double.NEGATIVE_INFINITY;
            int mi = -1;
            for (int i = 0; i < n; i++) if (orig[i + 2] > m) { m = orig[i + 2]; mi = i; }
            assertEquals(mi, VectorOps.maxIndex(x, 2, n));
            double s = 0;
            for (int i = 0; i < n; i++) s += Math.exp(orig[i + 2] - m);
            float lse = VectorOps.softmaxInPlace(x, 2, n);
            assertEquals(Math.log(s) + m, lse, 1e-5 * (1 + Math.abs(m)));
            for (int i = 0; i < n; i++) assertEquals(Math.exp(orig[i + 2] - m) / s, x[i + 2], 1e-6);
            assertEquals(orig[0], x[0]);
            assertEquals(orig[1], x[1]);
        }
        float[] ties = {1, 5, 3, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2};
        assertEquals(1, VectorOps.maxIndex(ties, 0, ties.length));
        float[] big = new float[40];
        big[33] = 7;
        assertEquals(33, VectorOps.maxIndex(big, 0, 40));
        big[35] = Float.NaN;
        assertEquals(33, VectorOps.maxIndex(big, 0, 40));
        assertEquals(-1, VectorOps.maxIndex(big, 0, 0));
    }

    @Test
    void siluSwiglu() {
        Random r = new Random(4);
        for (int n : SIZES) {
            float[] g = rnd(r, n, 4), u = rnd(r, n, 1);
            if (n > 0) g[0] = -100f;
            float[] out = new float[n];
            VectorOps.swiglu(g, u, out, n);
            float[] s = g.clone();
            VectorOps.silu(s, 0, n);
            for (int i = 0; i < n; i++) {
                double si = g[i] / (1 + Math.exp(-g[i]));
                assertEquals(si, s[i], 2e-6 * Math.abs(si) + 1e-30);
                assertEquals(si * u[i], out[i], 2e-6 * Math.abs(si * u[i]) + 1e-30);
            }
        }
    }

    @Test
    void expIsAccurateAndTheScalarMatchesTheLanes() {
        var sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        Random r = new Random(3);
        float[] x = new float[sp.length() * 4000];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 190 - 95);
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = 0f;
        x[2] = -87.4f;
        x[3] = 88.7f;
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += sp.length()) {
            VectorOps.exp(jdk.incubator.vector.FloatVector.fromArray(sp, x, i)).intoArray(y, i);
        }
        assertEquals(0f, y[0], "exp(-inf)");
        assertEquals(1f, y[1], "exp(0)");
        assertEquals(0f, y[2], "below the normal range: 0");
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToIntBits(VectorOps.exp(x[i])), Float.floatToIntBits(y[i]), "scalar and lane at " + x[i]);
            if (x[i] > -87.3f && x[i] < 88.7f) {
                float ref = (float) Math.exp(x[i]);
                assertEquals(ref, y[i], 4 * Math.ulp(ref), "exp(" + x[i] + ")");
            }
        }
    }

    @Test
    void sumAddsTheLanes() {
        var sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        float[] a = new float[sp.length()];
        for (int i = 0; i < a.length; i++) a[i] = 1 << i;
        assertEquals((1 << a.length) - 1, VectorOps.sum(jdk.incubator.vector.FloatVector.fromArray(sp, a, 0)), 0f);
        var half = jdk.incubator.vector.FloatVector.SPECIES_128;
        assertEquals(15f, VectorOps.sum(jdk.incubator.vector.FloatVector.fromArray(half, a, 0)), 0f);
    }
}
