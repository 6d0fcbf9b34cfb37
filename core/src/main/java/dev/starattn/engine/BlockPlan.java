package dev.starattn.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * How a context of N tokens is cut and dealt to hosts. Star: blocks of b tokens (the last may be
 * shorter, no padding), dealt to hosts in contiguous runs, the first hosts one more block when
 * the count does not divide; every block after the first gets an anchor. Ring: one contiguous
 * range per host, or the zigzag pair of chunks (h, 2H-1-h).
 */
public final class BlockPlan {
    private BlockPlan() {}

    /**
     * Refuses a split that would leave a host without work or give an anchor longer than a block:
     * star needs at least one block per host, ring at least one token per host. Checked before any
     * host is built, so that a host count far beyond the context fails at once with a sentence.
     */
    public static void requireWorkForEveryHost(int n, EngineOptions o) {
        if (n < 1) throw new IllegalArgumentException("the context is empty");
        switch (o.mode()) {
            case DENSE -> { }
            case STAR -> {
                int b = o.effectiveBlockSize(n);
                int a = o.effectiveAnchorSize(n);
                int blocks = (n + b - 1) / b;
                if (blocks < o.hosts()) {
                    throw new IllegalArgumentException("--hosts " + o.hosts() + " is more than the " + count(blocks, "block") + " of "
                            + count(b, "token") + " that a context of " + count(n, "token") + " makes; each host needs a block: use --hosts "
                            + blocks + " or fewer" + (o.blockSize() > 0 ? " or a smaller --block-size" : ""));
                }
                if (a > b) {
                    throw new IllegalArgumentException("--anchor-size " + a + " is larger than the block of " + b
                            + " tokens; an anchor is at most one block");
                }
            }
            case RING, RING_ZIGZAG -> requireRingSplit(n, o.hosts(), o.mode() == AttentionMode.RING_ZIGZAG);
        }
    }

    private static String count(int k, String noun) {
        return k + " " + noun + (k == 1 ? "" : "s");
    }

    /** Star phase-1 work per host: host h gets {@code result.get(h)}, at least one block. */
    public static List<List<BlockTask>> star(int[] context, EngineOptions o) {
        requireWorkForEveryHost(context.length, o);
        int n = context.length;
        int b = o.effectiveBlockSize(n);
        int a = o.effectiveAnchorSize(n);
        int blocks = (n + b - 1) / b;
        int hosts = o.hosts();
        List<List<BlockTask>> plan = new ArrayList<>();
        int next = 0;
        for (int h = 0; h < hosts; h++) {
            int count = blocks / hosts + (h < blocks % hosts ? 1 : 0);
            List<BlockTask> mine = new ArrayList<>();
            for (int i = 0; i < count; i++, next++) {
                int start = next * b, end = Math.min(n, start + b);
                int[] tokens = Arrays.copyOfRange(context, start, end);
                int[] pos = range(start, end);
                int anchorLen = next == 0 ? 0 : Math.min(a, start);
                mine.add(new BlockTask(next, tokens, pos, anchorTokens(context, start, anchorLen, o, next),
                        anchorPositions(start, anchorLen, o, next)));
            }
            plan.add(mine);
        }
        return plan;
    }

    private static int[] anchorTokens(int[] c, int start, int len, EngineOptions o, int block) {
        if (len == 0) return new int[0];
        return switch (o.anchorContent()) {
            case FIRST -> Arrays.copyOfRange(c, 0, len);
            case PREVIOUS -> Arrays.copyOfRange(c, start - len, start);
            case SHUFFLED -> {
                int[] t = Arrays.copyOfRange(c, 0, len);
                Random r = new Random(o.seed() * 31 + 17); // the same shuffle for every block
                for (int i = t.length - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int tmp = t[i];
                    t[i] = t[j];
                    t[j] = tmp;
                }
                yield t;
            }
        };
    }

    private static int[] anchorPositions(int start, int len, EngineOptions o, int block) {
        if (len == 0) return new int[0];
        return switch (o.anchorPositions()) {
            case ORIGINAL -> range(0, len);
            case ADJACENT -> range(start - len, start);
            case RANDOM -> {
                Random r = new Random(o.seed() * 1_000_003L + block);
                int[] p = r.ints(0, start).distinct().limit(len).sorted().toArray();
                yield p;
            }
        };
    }

    /**
     * Ring: the positions each host holds (contiguous, or the zigzag pair of chunks). Every host gets
     * at least one token: ring needs n >= hosts, zigzag n >= 2 * hosts (each of the 2H chunks non-empty).
     */
    public static List<int[]> ring(int n, int hosts, boolean zigzag) {
        requireRingSplit(n, hosts, zigzag);
        return ringRanges(n, hosts, zigzag);
    }

    private static void requireRingSplit(int n, int hosts, boolean zigzag) {
        int most = zigzag ? Math.max(1, n / 2) : n;
        if (hosts > most) {
            throw new IllegalArgumentException("--hosts " + hosts + " is more than a context of " + n + " tokens can be split into for "
                    + (zigzag ? "ring-zigzag attention (each host holds two chunks of at least one token)"
                    : "ring attention (each host holds at least one token)") + ": use --hosts " + most + " or fewer");
        }
    }

    private static List<int[]> ringRanges(int n, int hosts, boolean zigzag) {
        List<int[]> out = new ArrayList<>();
        if (!zigzag) {
            for (int h = 0; h < hosts; h++) {
                out.add(range((int) ((long) n * h / hosts), (int) ((long) n * (h + 1) / hosts)));
            }
            return out;
        }
        int chunks = 2 * hosts;
        for (int h = 0; h < hosts; h++) {
            int c1 = h, c2 = chunks - 1 - h;
            int[] a = range((int) ((long) n * c1 / chunks), (int) ((long) n * (c1 + 1) / chunks));
            int[] b = range((int) ((long) n * c2 / chunks), (int) ((long) n * (c2 + 1) / chunks));
            int[] both = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, both, a.length, b.length);
            out.add(both);
        }
        return out;
    }

    static int[] range(int from, int to) {
        int[] r = new int[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) r[i] = from + i;
        return r;
    }
}
