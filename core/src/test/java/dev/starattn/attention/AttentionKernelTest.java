package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class AttentionKernelTest {

    /** Naive double-precision softmax attention, causal by position id. Returns {out, lse}. */
    static double[][] naive(float[] q, int rows, int[] qPos, int heads, KvCache kv) {
        int hd = kv.headDim(), group = heads / kv.kvHeads(), stride = kv.kvHeads() * hd;
        double[] out = new double[rows * heads * hd];
        double[] lse = new double[rows * heads];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int kvh = h / group;
                double max = Double.NEGATIVE_INFINITY;
                double[] s = new double[kv.size()];
                for (int j = 0; j < kv.size(); j++) {
                    if (kv.positions()[j] > qPos[r]) {
                        s[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += (double) q[(r * heads + h) * hd + d] * kv.keys()[j * stride + kvh * hd + d];
                    s[j] = dot / Math.sqrt(hd);
                    max = Math.max(max, s[j]);
                }
                if (max == Double.NEGATIVE_INFINITY) {
                    lse[r * heads + h] = Double.NEGATIVE_INFINITY;
                    continue;
                }
                double sum = 0;
                for (double v : s) if (v != Double.NEGATIVE_INFINITY) sum += Math.exp(v - max);
                lse[r * heads + h] = max + Math.log(sum);
                for (int j = 0; j < kv.size(); j++) {
                    if (s[j] == Double.NEGATIVE_INFINITY) continue;
                    double p = Math.exp(s[j] - max) / sum;
                    for (int d = 0; d < hd; d++) out[(r * heads + h) * hd + d] += p * kv.values()[j * stride + kvh * hd + d];
                }
            }
        }
        return new double[][] {out, lse};
    }

    static KvCache randomKv(Random r, int kvHeads, int hd, int n, int[] pos) {
        KvCache kv = new KvCache(kvHeads, hd, 4);
        float[] k = new float[n * kvHeads * hd], v = new float[n * kvHeads * hd];
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        kv.append(k, v, 0, n, pos, 0);
        return kv;
    }

    static float[] randomQ(Random r, int rows, int heads, int hd) {
        float[] q = new float[rows * heads * hd];
        for (int i = 0; i < q.length; i++) q[i] = (float) (r.nextGaussian() * 1.5);
        return q;
    }

    static void assertClose(double[][] ref, Partial p, String what) {
        double maxErr = 0;
        for (int i = 0; i < ref[0].length; i++) maxErr = Math.max(maxErr, Math.abs(ref[0][i] - p.out()[i]));
        assertTrue(maxErr < 2e-5, what + ": output error " + maxErr);
        for (int i = 0; i < ref[1].length; i++) {
            if (ref[1][i] == Double.NEGATIVE_INFINITY) {
                assertEquals(Float.NEGATIVE_INFINITY, p.lse()[i], what + ": lse of a row with no visible key");
            } else {
                assertEquals(ref[1][i], p.lse()[i], 1e-4, what + ": lse");
            }
        }
    }

    @Test
    void matchesNaiveOverShapesOffsetsAndTileBoundaries() {
        Random r = new Random(1);
        int[][] shapes = { // rows, keys, heads, kvHeads, headDim
            {1, 1, 1, 1, 16}, {1, 63, 4, 2, 64}, {16, 64, 4, 4, 64}, {17, 65, 8, 2, 32}, {15, 127, 6, 3, 48},
            {33, 129, 4, 1, 64}, {64, 200, 2, 2, 80}, {5, 300, 12, 4, 64}, {40, 40, 3, 1, 8}};
        for (int[] s : shapes) {
            int rows = s[0], keys = s[1], heads = s[2], kvh = s[3], hd = s[4];
            int offset = r.nextInt(1000);
            int[] kPos = new int[keys];
            for (int i = 0; i < keys; i++) kPos[i] = offset + i;
            KvCache kv = randomKv(r, kvh, hd, keys, kPos);
            // Queries at the last `rows` positions (causal prefill), plus a copy at positions before the keys.
            int[] qPos = new int[rows];
            for (int i = 0; i < rows; i++) qPos[i] = offset + keys - rows + i;
            float[] q = randomQ(r, rows, heads, hd);
            assertClose(naive(q, rows, qPos, heads, kv), AttentionKernel.attend(q, rows, qPos, heads, kv), "shape " + java.util.Arrays.toString(s));
        }
    }

    @Test
    void masksByPositionIdNotIndex() {
        Random r = new Random(2);
        int keys = 150, rows = 20, heads = 4, hd = 32;
        List<Integer> perm = new ArrayList<>();
        for (int i = 0; i < keys; i++) perm.add(3 * i + 7);
        Collections.shuffle(perm, r);
        int[] kPos = perm.stream().mapToInt(Integer::intValue).toArray();
        KvCache kv = randomKv(r, 2, hd, keys, kPos);
        int[] qPos = new int[rows];
        for (int i = 0; i < rows; i++) qPos[i] = r.nextInt(500); // some rows see no key at all
        qPos[0] = 0;
        float[] q = randomQ(r, rows, heads, hd);
        Partial p = AttentionKernel.attend(q, rows, qPos, heads, kv);
        assertClose(naive(q, rows, qPos, heads, kv), p, "scattered positions");
        long visible = 0;
        for (int qp : qPos) for (int kp : kPos) if (kp <= qp) visible++;
        assertEquals(visible * heads, p.pairs(), "visible pairs counted");
    }

    @Test
    void splitKvDecodeMatchesNaive() {
        Random r = new Random(3);
        int keys = 5000, heads = 4, hd = 64;
        int[] kPos = new int[keys];
        for (int i = 0; i < keys; i++) kPos[i] = i;
        KvCache kv = randomKv(r, 2, hd, keys, kPos);
        for (int rows : new int[] {1, 2}) {
            int[] qPos = new int[rows];
            for (int i = 0; i < rows; i++) qPos[i] = keys + i;
            float[] q = randomQ(r, rows, heads, hd);
            assertClose(naive(q, rows, qPos, heads, kv), AttentionKernel.attend(q, rows, qPos, heads, kv), "split-KV rows=" + rows);
        }
    }

    @Test
    void f16CacheMatchesAttentionOverRoundedKeysAndValues() {
        Random r = new Random(4);
        int keys = 130, rows = 21, heads = 4, kvh = 2, hd = 64;
        int[] pos = new int[keys];
        for (int i = 0; i < keys; i++) pos[i] = i;
        KvCache f32 = randomKv(r, kvh, hd, keys, pos);
        KvCache f16 = new KvCache(kvh, hd, 8, KvType.F16);
        f16.append(f32.keys(), f32.values(), 0, keys, pos, 0);
        assertEquals(f32.bytes() / 2, f16.bytes(), "f16 halves the KV memory");
        // The reference: the same keys and values rounded to f16, attended in double precision.
        KvCache rounded = new KvCache(kvh, hd, keys);
        float[] k = new float[keys * kvh * hd], v = new float[keys * kvh * hd];
        for (int i = 0; i < k.length; i++) {
            k[i] = Float.float16ToFloat(Float.floatToFloat16(f32.keys()[i]));
            v[i] = Float.float16ToFloat(Float.floatToFloat16(f32.values()[i]));
        }
        rounded.append(k, v, 0, keys, pos, 0);
        int[] qPos = new int[rows];
        for (int i = 0; i < rows; i++) qPos[i] = keys - rows + i;
        float[] q = randomQ(r, rows, heads, hd);
        assertClose(naive(q, rows, qPos, heads, rounded), AttentionKernel.attend(q, rows, qPos, heads, f16), "f16 cache");
    }

    @Test
    void softmaxExp2IsWithinTwoUlpAndTheScalarFormGivesTheSameBits() {
        Random r = new Random(7);
        int n = 64 * 256;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (i % 4) {
                case 0 -> -r.nextFloat();                // [-1, 0]: rounding ties near -1/2
                case 1 -> -30 * r.nextFloat();
                case 2 -> -140 * r.nextFloat();          // down to the bottom of the range and below
                default -> i % 64 == 3 ? Float.NEGATIVE_INFINITY : -(float) Math.floor(130 * r.nextFloat()) - 0.5f;
            };
        }
        float[] y = x.clone();
        double sum = 0;
        float vecSum = SoftmaxExp2.expInPlace(y, 0, n, 0f);
        for (int i = 0; i < n; i++) {
            double ref = Math.pow(2, x[i]);
            assertEquals(Float.floatToRawIntBits(SoftmaxExp2.exp2(x[i])), Float.floatToRawIntBits(y[i]), "scalar vs vector at " + x[i]);
            if (x[i] < -126.5f) {
                assertEquals(0f, y[i], "2^" + x[i] + " is flushed to 0");
            } else if (x[i] >= -126f) {
                assertTrue(Math.abs(y[i] - ref) <= 2 * Math.ulp((float) ref), "2^" + x[i] + ": " + y[i] + " vs " + ref);
            }
            sum += y[i];
        }
        assertEquals(sum, vecSum, 1e-5 * sum);
        assertEquals(1f, SoftmaxExp2.exp2(0f));
        assertEquals(0f, SoftmaxExp2.exp2(Float.NEGATIVE_INFINITY));
    }
}
