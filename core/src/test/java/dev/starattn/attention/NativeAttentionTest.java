package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The C prefill tile gives the Java tile's bits (where it is used: AVX-512 machines). */
class NativeAttentionTest {
    @AfterEach
    void restore() {
        NativeAttention.enabled = true;
    }

    @Test
    void nativeTileGivesTheJavaKernelsBits() {
        assumeTrue(NativeAttention.available(), "no native tile here: " + NativeAttention.DESCRIPTION);
        Random rnd = new Random(7);
        for (KvType type : new KvType[] {KvType.F16, KvType.F32}) {
            for (int hd : new int[] {64, 128, 48}) {
                // A first chunk against itself (causal masks inside tiles), then a second chunk over
                // the first's keys and its own (whole tiles visible), with row and key counts that
                // are not multiples of 4, 64.
                int heads = 6, kvHeads = 2, first = 133, second = 70;
                KvCache kv = new KvCache(kvHeads, hd, 8, type);
                int[] pos = new int[first + second];
                for (int i = 0; i < pos.length; i++) pos[i] = i;
                float[] k = random(rnd, (first + second) * kvHeads * hd), v = random(rnd, (first + second) * kvHeads * hd);
                float[] q = random(rnd, (first + second) * heads * hd);
                int off = 0;
                for (int n : new int[] {first, second}) {
                    kv.append(slice(k, off * kvHeads * hd, n * kvHeads * hd), slice(v, off * kvHeads * hd, n * kvHeads * hd), 0, n, pos, off);
                    float[] qc = slice(q, off * heads * hd, n * heads * hd);
                    int[] qp = java.util.Arrays.copyOfRange(pos, off, off + n);
                    NativeAttention.enabled = false;
                    Partial java = AttentionKernel.attend(qc, n, qp, heads, kv);
                    NativeAttention.enabled = true;
                    Partial nat = AttentionKernel.attend(qc, n, qp, heads, kv);
                    String what = type + " hd " + hd + " chunk at " + off;
                    assertArrayEquals(java.out(), nat.out(), what);
                    assertArrayEquals(java.lse(), nat.lse(), what);
                    assertEquals(java.pairs(), nat.pairs(), what);
                    off += n;
                }
            }
        }
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian() * 2f;
        return a;
    }

    private static float[] slice(float[] a, int from, int n) {
        return java.util.Arrays.copyOfRange(a, from, from + n);
    }
}
