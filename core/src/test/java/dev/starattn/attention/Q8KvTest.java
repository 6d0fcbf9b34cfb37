package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Q8_0 KV storage: GGML's block format, the kernel's dequantized tiles, bytes, and save/load. */
class Q8KvTest {
    @Test
    void quantizationErrorIsWithinHalfAStepPerBlock() {
        Random r = new Random(1);
        for (int[] shape : new int[][] {{2, 64}, {3, 20}, {1, 8}}) { // rows of 128, 60 (32 + 28) and 8 elements
            int kvh = shape[0], hd = shape[1], rs = kvh * hd, rows = 17;
            float[] k = new float[rows * rs], v = new float[rows * rs];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) (r.nextGaussian() * (i % 7 == 0 ? 10 : 1));
                v[i] = (float) r.nextGaussian();
            }
            k[5] = 0; // zero blocks quantize to zero
            int[] pos = new int[rows];
            for (int i = 0; i < rows; i++) pos[i] = 100 + i;
            KvCache q = new KvCache(kvh, hd, 2, KvType.Q8_0, KvType.Q8_0);
            q.append(k, v, 0, rows, pos, 0);
            for (int t = 0; t < rows; t++) {
                for (int b = 0; b < rs; b += 32) {
                    float amax = 0;
                    for (int c = b; c < Math.min(rs, b + 32); c++) amax = Math.max(amax, Math.abs(k[t * rs + c]));
                    float step = amax / 127f;
                    for (int c = b; c < Math.min(rs, b + 32); c++) {
                        float got = q.key(t, c / hd, c % hd);
                        assertTrue(Math.abs(got - k[t * rs + c]) <= step * 0.5f + amax * 1e-3f,
                                "row " + t + " col " + c + ": " + got + " vs " + k[t * rs + c]);
                    }
                }
            }
            // Tiles are what key()/value() give, element for element.
            float[] tile = new float[rows * hd], kt = new float[hd * 32];
            q.keysTile(0, rows, kvh - 1, tile);
            q.keysTransposed(0, rows, kvh - 1, kt, 32);
            for (int t = 0; t < rows; t++) {
                for (int d = 0; d < hd; d++) {
                    assertEquals(q.key(t, kvh - 1, d), tile[t * hd + d]);
                    assertEquals(q.key(t, kvh - 1, d), kt[d * 32 + t]);
                }
            }
            q.valuesTile(3, 2, 0, tile);
            for (int d = 0; d < hd; d++) assertEquals(q.value(4, 0, d), tile[hd + d]);
            // Bytes: rs int8 + one f16 scale per 32 (or fewer) elements, for keys and values.
            long perRow = rs + 2L * ((rs + 31) / 32);
            assertEquals(2 * rows * perRow, q.bytes());
            assertThrows(IllegalStateException.class, q::keys);
        }
    }

    @Test
    void q8HalvesF16AndCopiesAndSavesBitForBit() {
        Random r = new Random(2);
        int kvh = 4, hd = 128, rows = 40, rs = kvh * hd;
        float[] k = new float[rows * rs], v = new float[rows * rs];
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        int[] pos = new int[rows];
        for (int i = 0; i < rows; i++) pos[i] = i * 3;
        KvCache f16 = new KvCache(kvh, hd, rows, KvType.F16);
        KvCache q8 = new KvCache(kvh, hd, rows, KvType.Q8_0);
        KvCache mixed = new KvCache(kvh, hd, rows, KvType.Q8_0, KvType.F16);
        f16.append(k, v, 0, rows, pos, 0);
        q8.append(k, v, 0, rows, pos, 0);
        mixed.append(k, v, 0, rows, pos, 0);
        double ratio = (double) q8.bytes() / f16.bytes();
        assertEquals(34.0 / 64.0, ratio, 1e-9, "q8_0: 34 bytes per 32 elements against f16's 64");
        assertEquals((q8.bytes() + f16.bytes()) / 2, mixed.bytes());
        assertEquals(KvType.Q8_0, mixed.keyType());
        assertEquals(KvType.F16, mixed.valueType());
        // slice and save/load keep the bits.
        KvCache s = mixed.slice(10, 20);
        ByteBuffer buf = ByteBuffer.allocate((int) KvCache.serializedBytes(kvh, hd, KvType.Q8_0, KvType.F16, 20));
        s.save(buf);
        assertEquals(0, buf.remaining());
        buf.flip();
        KvCache back = KvCache.load(buf, kvh, hd, KvType.Q8_0, KvType.F16, 20);
        for (int t = 0; t < 20; t++) {
            assertEquals(pos[10 + t], back.positions()[t]);
            for (int d = 0; d < hd; d++) {
                assertEquals(mixed.key(10 + t, 2, d), back.key(t, 2, d));
                assertEquals(mixed.value(10 + t, 3, d), back.value(t, 3, d));
            }
        }
        assertEquals(30, back.minPosition());
        assertEquals(87, back.maxPosition());
        assertThrows(IllegalArgumentException.class, () -> f16.appendAll(q8), "types must match to copy bits");
    }

    @Test
    void kernelOverQ8EqualsKernelOverTheDequantizedValues() {
        Random r = new Random(3);
        int kvh = 2, hd = 64, keys = 150, rows = 9, heads = 4;
        int[] pos = new int[keys];
        for (int i = 0; i < keys; i++) pos[i] = i;
        float[] k = new float[keys * kvh * hd], v = new float[k.length];
        for (int i = 0; i < k.length; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        KvCache q8 = new KvCache(kvh, hd, keys, KvType.Q8_0);
        q8.append(k, v, 0, keys, pos, 0);
        float[] dk = new float[k.length], dv = new float[k.length];
        for (int t = 0; t < keys; t++) {
            for (int h = 0; h < kvh; h++) {
                for (int d = 0; d < hd; d++) {
                    dk[(t * kvh + h) * hd + d] = q8.key(t, h, d);
                    dv[(t * kvh + h) * hd + d] = q8.value(t, h, d);
                }
            }
        }
        KvCache f32 = new KvCache(kvh, hd, keys);
        f32.append(dk, dv, 0, keys, pos, 0);
        for (int nq : new int[] {1, rows}) { // decode path and tiled path
            float[] q = new float[nq * heads * hd];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            int[] qPos = new int[nq];
            for (int i = 0; i < nq; i++) qPos[i] = keys - nq + i;
            Partial a = AttentionKernel.attend(q, nq, qPos, heads, q8), b = AttentionKernel.attend(q, nq, qPos, heads, f32);
            for (int i = 0; i < a.out().length; i++) assertEquals(b.out()[i], a.out()[i], 1e-5);
        }
    }
}
