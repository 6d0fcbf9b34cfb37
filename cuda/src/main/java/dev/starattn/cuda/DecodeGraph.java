package dev.starattn.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One decode step (a single new token through every layer, up to its logits on the device) captured as a CUDA graph
 * and replayed per token: one {@code cuGraphLaunch} in place of ~550 kernel launches and GEMMs, which with the
 * engine's decode kernels took 35-60 % of a step's wall time to issue (BENCHMARKS.md).
 *
 * <p>A graph holds its kernels' arguments as captured: device pointers, grid sizes and the key counts of caches that no
 * longer grow. What changes per token is read by the kernels from device memory (the token and position from the
 * model's scratch, the growing cache's write row and length from {@link CudaStarQuery}'s step ints). So a graph stays
 * valid while no buffer on its device moved ({@link CudaDevice#memoryEpoch}) and the caches it reads without a device
 * length keep their sizes; {@link #matches} checks both, and the owner recaptures otherwise.
 */
final class DecodeGraph implements AutoCloseable {
    private final CudaDevice dev;
    private final long memoryEpoch;
    private final int[] fixedSizes;
    private MemorySegment exec;

    private DecodeGraph(CudaDevice dev, MemorySegment exec, long memoryEpoch, int[] fixedSizes) {
        this.dev = dev;
        this.exec = exec;
        this.memoryEpoch = memoryEpoch;
        this.fixedSizes = fixedSizes.clone();
    }

    /**
     * Captures {@code step} (launches and GEMMs only) on {@code dev}; null when the capture itself allocated or freed
     * memory (a buffer grew: the step should run eagerly once, and the next one capture again).
     *
     * @param fixedSizes the sizes of the caches whose key counts the step bakes in (see {@link #matches})
     */
    static DecodeGraph capture(CudaDevice dev, int[] fixedSizes, Runnable step) {
        long epoch = dev.memoryEpoch;
        MemorySegment exec = dev.capture(step);
        if (dev.memoryEpoch != epoch) {
            dev.destroyGraph(exec);
            return null;
        }
        return new DecodeGraph(dev, exec, epoch, fixedSizes);
    }

    /** Whether this graph still computes the step: no buffer on the device moved and the fixed caches kept their sizes. */
    boolean matches(int[] sizes) {
        return exec != null && dev.memoryEpoch == memoryEpoch && Arrays.equals(sizes, fixedSizes);
    }

    /** Queues one replay on the device (ordered with the default stream's work before and after). */
    void launch() {
        dev.launchGraph(exec);
    }

    @Override
    public void close() {
        MemorySegment e = exec;
        exec = null;
        dev.destroyGraph(e);
    }
}
