package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The host-side pair count of {@link DeviceKv} (FLOP accounting of GPU hosts) against brute force. */
class VisiblePairsTest {
    static long brute(int[] keyPos, int k0, int k1, int[] qPos) {
        long n = 0;
        for (int qp : qPos) for (int i = k0; i < k1; i++) if (keyPos[i] <= qp) n++;
        return n;
    }

    @Test
    void ascendingAndScatteredPositionsCountLikeBruteForce() {
        Random r = new Random(5);
        for (int t = 0; t < 300; t++) {
            int keys = 1 + r.nextInt(300);
            int[] kp = new int[keys];
            for (int i = 0; i < keys; i++) kp[i] = r.nextInt(500) - 50;
            if (t % 2 == 0) Arrays.sort(kp);   // star / dense caches: ascending, with repeats
            int[] qp = new int[1 + r.nextInt(40)];
            for (int i = 0; i < qp.length; i++) qp[i] = r.nextInt(600) - 100;
            int k0 = r.nextInt(keys), k1 = k0 + r.nextInt(keys - k0 + 1);
            assertEquals(brute(kp, k0, k1, qp), DeviceKv.visiblePairs(kp, k0, k1, qp), "case " + t);
        }
        // Anchor then a block at its original positions, queries inside the block: a causal triangle.
        int[] kp = new int[200];
        for (int i = 0; i < 100; i++) kp[i] = i;
        for (int i = 0; i < 100; i++) kp[100 + i] = 1000 + i;
        int[] qp = Arrays.copyOfRange(kp, 100, 200);
        assertEquals(100L * 100 + 100L * 101 / 2, DeviceKv.visiblePairs(kp, 0, 200, qp));
    }
}
