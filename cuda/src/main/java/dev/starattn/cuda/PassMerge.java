package dev.starattn.cuda;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The rows a star-pass block attends to before itself, as {@code PassHost} (the CPU) orders them: its anchor's rows
 * and the passing rows of the blocks before it, merged in position order; a passing row at or after the block's
 * start, or at a position the anchor holds, is left out. Given as runs of consecutive rows of one source, so a GPU
 * host copies each run at once.
 */
final class PassMerge {
    /** The anchor as a source of rows. */
    static final int ANCHOR = -1;

    private PassMerge() {}

    /** Rows {@code from .. from + rows - 1} of {@code source}: {@link #ANCHOR}, or the index of a passing-row list. */
    record Run(int source, int from, int rows) {}

    /**
     * @param anchorPositions the anchor's positions, ascending (empty: no anchor)
     * @param before          the positions of each list of passing rows, in context order, each ascending
     * @param blockStart      the block's first position
     */
    static List<Run> order(int[] anchorPositions, List<int[]> before, int blockStart) {
        Set<Integer> anchored = new HashSet<>();
        for (int p : anchorPositions) anchored.add(p);
        List<Run> runs = new ArrayList<>();
        int a = 0;
        for (int s = 0; s < before.size(); s++) {
            int[] pos = before.get(s);
            for (int r = 0; r < pos.length; r++) {
                if (pos[r] >= blockStart || anchored.contains(pos[r])) continue;
                int a0 = a;
                while (a < anchorPositions.length && anchorPositions[a] < pos[r]) a++;
                add(runs, ANCHOR, a0, a - a0);
                add(runs, s, r, 1);
            }
        }
        add(runs, ANCHOR, a, anchorPositions.length - a);
        return runs;
    }

    /** Appends rows to the last run when they continue it, else a new run. */
    private static void add(List<Run> runs, int source, int from, int rows) {
        if (rows <= 0) return;
        Run last = runs.isEmpty() ? null : runs.getLast();
        if (last != null && last.source() == source && last.from() + last.rows() == from) {
            runs.set(runs.size() - 1, new Run(source, last.from(), last.rows() + rows));
        } else {
            runs.add(new Run(source, from, rows));
        }
    }
}
