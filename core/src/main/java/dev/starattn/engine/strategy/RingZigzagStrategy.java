package dev.starattn.engine.strategy;

import dev.starattn.engine.BlockPlan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Ring Attention with the zigzag (load-balanced) split: of 2H equal chunks, host h holds chunks h and 2H-1-h. */
final class RingZigzagStrategy extends RingStrategy {
    @Override
    public String name() {
        return "ring-zigzag";
    }

    /** Each host holds two non-empty chunks of the 2H. */
    @Override
    int mostHosts(int n) {
        return Math.max(1, n / 2);
    }

    @Override
    String shareRule() {
        return "each host holds two chunks of at least one token";
    }

    @Override
    List<int[]> split(int n, int hosts) {
        List<int[]> out = new ArrayList<>();
        int chunks = 2 * hosts;
        for (int h = 0; h < hosts; h++) {
            int c1 = h, c2 = chunks - 1 - h;
            int[] a = BlockPlan.range((int) ((long) n * c1 / chunks), (int) ((long) n * (c1 + 1) / chunks));
            int[] b = BlockPlan.range((int) ((long) n * c2 / chunks), (int) ((long) n * (c2 + 1) / chunks));
            int[] both = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, both, a.length, b.length);
            out.add(both);
        }
        return out;
    }
}
