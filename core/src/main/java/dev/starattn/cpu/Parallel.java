package dev.starattn.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one place where the CPU backend splits work over cores. Everything that runs in parallel
 * (matrix products, attention heads, tiles) goes through here, so that the thread count is set
 * once ({@code -Dstarattn.threads=N}, default: all cores) and pools are not nested by accident.
 *
 * <p>A region is cut into the same chunks whoever runs them (so results do not depend on the
 * thread that ran a chunk). The calling thread works on its own region, taking chunks from an
 * atomic counter together with {@code threads - 1} helper threads, instead of waiting idle while
 * parked fork-join workers wake up (decode enters about a hundred regions per token of
 * 0.05-0.3 ms each, about as long as a wake-up). Helpers park after a region, or first spin for
 * {@code -Dstarattn.spinMicros} (default 0: on a machine shared with other work, spinning takes
 * the core from the thread it waits for). One region runs on the helpers at a time; a caller that finds them busy (another
 * thread's region) uses a fork-join pool instead, and a region started inside a region runs inline.
 */
public final class Parallel {
    private Parallel() {}

    private static final int THREADS = dev.starattn.config.Switches.threads();
    private static final long SPIN_NANOS = 1000L * dev.starattn.config.Switches.spinMicros();
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
     * parallel when worthwhile. Runs inline when called from inside a region (no nesting).
     */
    public static void forRange(int n, int grain, RangeTask task) {
        if (n <= 0) return;
        int chunks = Math.min(THREADS * 4, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || THREADS == 1 || IN_REGION.get()[0] || ForkJoinTask.inForkJoinPool()) {
            task.run(0, n);
            return;
        }
        if (Team.LOCK.tryLock()) {
            try {
                Team.run(task, n, chunks);
            } finally {
                Team.LOCK.unlock();
            }
            return;
        }
        POOL.invoke(new Split(task, n, chunks, 0, chunks));
    }

    /** Whether this thread is running a chunk of a region (helpers always are). */
    private static final ThreadLocal<boolean[]> IN_REGION = ThreadLocal.withInitial(() -> new boolean[1]);

    private static void runChunk(RangeTask task, int n, int chunks, int c) {
        int from = (int) ((long) n * c / chunks);
        int to = (int) ((long) n * (c + 1) / chunks);
        task.run(from, to);
    }

    /** The caller plus THREADS - 1 spinning helpers, one region at a time. */
    private static final class Team {
        static final ReentrantLock LOCK = new ReentrantLock();
        /** The region: set by the caller before {@link #generation} is bumped. */
        static volatile Region region;
        static final AtomicInteger generation = new AtomicInteger();
        static final Thread[] helpers = new Thread[Math.max(0, THREADS - 1)];
        static final AtomicInteger parked = new AtomicInteger();

        static {
            for (int i = 0; i < helpers.length; i++) {
                Thread t = new Thread(Team::helperLoop, "starattn-parallel-" + (i + 1));
                t.setDaemon(true);
                helpers[i] = t;
                t.start();
            }
        }

        static void run(RangeTask task, int n, int chunks) {
            Region r = new Region(task, n, chunks);
            region = r;
            generation.incrementAndGet();
            if (parked.get() > 0) {
                for (Thread t : helpers) LockSupport.unpark(t);
            }
            boolean[] in = IN_REGION.get();
            in[0] = true;
            try {
                r.work();
            } finally {
                in[0] = false;
            }
            // Wait for chunks that helpers took; they finish them (a failure is recorded, not lost).
            // A helper descheduled mid-chunk (a busy machine) gets the core back through yield.
            long w0 = System.nanoTime();
            while (r.done.get() < chunks) {
                if (System.nanoTime() - w0 > 20_000) Thread.yield(); else Thread.onSpinWait();
            }
            region = null;
            Throwable f = r.failure;
            if (f instanceof RuntimeException e) throw e;
            if (f instanceof Error e) throw e;
            if (f != null) throw new IllegalStateException(f);
        }

        static void helperLoop() {
            IN_REGION.get()[0] = true;
            int seen = generation.get();
            while (true) {
                long spinStart = System.nanoTime();
                int g;
                while ((g = generation.get()) == seen) {
                    if (System.nanoTime() - spinStart > SPIN_NANOS) {
                        parked.incrementAndGet();
                        if (generation.get() == seen) LockSupport.park();
                        parked.decrementAndGet();
                        spinStart = System.nanoTime();
                    } else {
                        Thread.onSpinWait();
                    }
                }
                seen = g;
                Region r = region;
                if (r != null) r.work();
            }
        }
    }

    /** One region: chunks handed out by an atomic counter to whoever asks first. */
    private static final class Region {
        final RangeTask task;
        final int n, chunks;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Region(RangeTask task, int n, int chunks) {
            this.task = task;
            this.n = n;
            this.chunks = chunks;
        }

        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    if (failure == null) runChunk(task, n, chunks, c);
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
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
                runChunk(task, n, chunks, lo);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Split(task, n, chunks, lo, mid), new Split(task, n, chunks, mid, hi));
        }
    }
}
