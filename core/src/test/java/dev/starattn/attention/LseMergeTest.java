package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LseMergeTest {

    @Test
    void mergeOfAnyPartitionEqualsAttentionOverTheWholeKv() {
        Random r = new Random(7);
        int keys = 300, rows = 9, heads = 4, kvHeads = 2, hd = 32;
        int[] pos = new int[keys];
        for (int i = 0; i < keys; i++) pos[i] = i;
        KvCache all = AttentionKernelTest.randomKv(r, kvHeads, hd, keys, pos);
        int[] qPos = new int[rows];
        for (int i = 0; i < rows; i++) qPos[i] = keys - rows + i + r.nextInt(3);
        float[] q = AttentionKernelTest.randomQ(r, rows, heads, hd);
        Partial whole = AttentionKernel.attend(q, rows, qPos, heads, all);
        for (int trial = 0; trial < 20; trial++) {
            int parts = 1 + r.nextInt(8);
            List<KvCache> shards = new ArrayList<>();
            for (int p = 0; p < parts; p++) shards.add(new KvCache(kvHeads, hd, 4));
            for (int j = 0; j < keys; j++) shards.get(r.nextInt(parts)).appendRange(all, j, 1); // arbitrary, non-contiguous
            List<Partial> partials = new ArrayList<>();
            for (KvCache s : shards) partials.add(AttentionKernel.attend(q, rows, qPos, heads, s));
            Collections.shuffle(partials, r); // any order
            Partial merged = LseMerge.merge(partials);
            for (int i = 0; i < whole.out().length; i++) assertEquals(whole.out()[i], merged.out()[i], 2e-5, "out");
            for (int i = 0; i < whole.lse().length; i++) assertEquals(whole.lse()[i], merged.lse()[i], 2e-5, "lse");
            assertEquals(whole.pairs(), merged.pairs());
            // The online (ring) form gives the same result.
            Partial acc = partials.getFirst();
            acc = new Partial(acc.rows(), acc.heads(), acc.headDim(), acc.out().clone(), acc.lse().clone(), 0);
            for (int p = 1; p < partials.size(); p++) LseMerge.mergeInto(acc, partials.get(p));
            for (int i = 0; i < whole.out().length; i++) assertEquals(whole.out()[i], acc.out()[i], 2e-5, "online out");
        }
    }

    @Test
    void emptyPartialsAreNeutral() {
        Partial a = Partial.empty(2, 1, 4);
        Partial b = new Partial(2, 1, 4, new float[] {1, 2, 3, 4, 5, 6, 7, 8}, new float[] {0.5f, Float.NEGATIVE_INFINITY}, 3);
        Partial m = LseMerge.merge(List.of(a, b));
        assertEquals(0.5f, m.lse()[0], 1e-6);
        assertEquals(Float.NEGATIVE_INFINITY, m.lse()[1]);
        assertEquals(4f, m.out()[3], 1e-6);
        assertEquals(0f, m.out()[4]);
        assertTrue(Float.isFinite(m.out()[7]));
    }
}
