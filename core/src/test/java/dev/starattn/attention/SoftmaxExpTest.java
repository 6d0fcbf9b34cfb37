package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

class SoftmaxExpTest {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static float[] exp(float[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i += S.length()) {
            SoftmaxExp.expNonPositive(FloatVector.fromArray(S, x, i)).intoArray(out, i);
        }
        return out;
    }

    @Test
    void relativeErrorBelow3e7OverTheWholeRange() {
        Random rnd = new Random(3);
        int n = 1 << 16;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            // dense near 0 (where softmax mass is), and out to the underflow limit
            x[i] = i % 2 == 0 ? -rnd.nextFloat() * 4 : -rnd.nextFloat() * 87.3f;
        }
        x[0] = 0f;
        x[1] = -0f;
        x[2] = -87.29f;
        float[] e = exp(x);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(x[i]);
            worst = Math.max(worst, Math.abs(e[i] - ref) / ref);
        }
        assertTrue(worst < 3e-7, "max relative error " + worst);
        assertEquals(1f, e[0]);
        assertEquals(1f, e[1]);
    }

    @Test
    void maskedAndUnderflowingArgumentsGiveExactZero() {
        float[] x = new float[S.length()];
        java.util.Arrays.fill(x, Float.NEGATIVE_INFINITY);
        x[1] = -88f;
        x[2] = -1000f;
        x[3] = -Float.MAX_VALUE;
        for (float v : exp(x)) assertEquals(0f, v);
    }
}
