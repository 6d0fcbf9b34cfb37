package dev.starattn.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * The one place where the CPU backend splits work over cores. Everything that runs in parallel
 * (matrix products, attention heads, tiles) goes through here, so that the thread count is set
 * once ({@code -Dstarattn.threads=N}, default: all cores) and pools are not nested by accident.
 */
public final class Parallel {
    private Parallel() {}

    private static final int THREADS = Integer.getInteger("starattn.threads",
            Runtime.getRuntime().availableProcessors());
    private static final ForkJoinPool POOL = THREADS == ForkJoinPool.commonPool().getParallelism()
            ? ForkJoinPool.commonPool() : new ForkJoinPool(Math.max(1, THREADS));

    /** Work of one contiguous range [from, to). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    public static int threads() {
        return THREADS;
    }

    /**
     * Runs {@code task} over [0, n) split into chunks of at least {@code grain} items, in
     * parallel when worthwhile. Runs inline when called from inside a pool worker (no nesting).
     */
    public static void forRange(int n, int grain, RangeTask task) {
        if (n <= 0) return;
        int chunks = Math.min(THREADS * 4, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || THREADS == 1 || ForkJoinTask.inForkJoinPool()) {
            task.run(0, n);
            return;
        }
        POOL.invoke(new Split(task, n, chunks, 0, chunks));
    }

    private static final class Split extends RecursiveAction {
        private final RangeTask task;
        private final int n, chunks, lo, hi;

        Split(RangeTask task, int n, int chunks, int lo, int hi) {
            this.task = task;
            this.n = n;
            this.chunks = chunks;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                int from = (int) ((long) n * lo / chunks);
                int to = (int) ((long) n * hi / chunks);
                task.run(from, to);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Split(task, n, chunks, lo, mid), new Split(task, n, chunks, mid, hi));
        }
    }
}
