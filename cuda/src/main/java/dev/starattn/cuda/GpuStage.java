package dev.starattn.cuda;

import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * One stage of a phase 1 whose GPU hosts advance layer by layer together ({@link CudaRing}, {@link CudaPass}): every
 * GPU's members in turn on that GPU's thread, all GPUs at once; each member's work followed by a synchronize of its
 * GPU (so its time goes to its own phase-1 time, and what it wrote is complete when the stage ends); returns when
 * every GPU is done (a barrier). A failure is thrown after all GPUs have stopped; a CUDA failure names the run, the
 * host, its GPU and the stage.
 */
final class GpuStage {
    private GpuStage() {}

    /** A host taking part: its GPU host, and whether it has no work (fewer tokens than hosts). */
    interface Member {
        CudaContextHost host();

        boolean idle();

        default CudaDevice device() {
            return host().model().device();
        }
    }

    /** The members by GPU ordinal, in member order within a GPU. */
    static <M extends Member> Map<Integer, List<M>> byGpu(List<M> members) {
        Map<Integer, List<M>> out = new LinkedHashMap<>();
        for (M m : members) out.computeIfAbsent(m.device().ordinal(), k -> new ArrayList<>()).add(m);
        return out;
    }

    /** A pool of one thread per GPU of {@code byGpu}, named after the run. */
    static ExecutorService threads(Map<Integer, ? extends List<?>> byGpu, String name) {
        return Executors.newFixedThreadPool(Math.max(1, byGpu.size()), Thread.ofPlatform().name(name + "-gpu-", 0).factory());
    }

    /** Runs {@code work} on every member that is not idle; {@code run} and {@code what} name the run and the stage in failures. */
    static <M extends Member> void run(ExecutorService pool, Map<Integer, List<M>> byGpu, String run, String what, Consumer<M> work) {
        List<Future<?>> running = new ArrayList<>();
        for (List<M> turns : byGpu.values()) {
            running.add(pool.submit(() -> {
                for (M m : turns) {
                    if (m.idle()) continue;
                    CudaDevice dev = m.device();
                    long s = System.nanoTime();
                    try {
                        work.accept(m);
                        dev.synchronize();
                    } catch (CudaException e) {
                        throw new CudaException(run + ", host " + m.host().name() + " on GPU " + dev.ordinal() + ", " + what + ": "
                                + e.getMessage(), e);
                    }
                    m.host().stats().phase1Nanos += System.nanoTime() - s;
                }
                return null;
            }));
        }
        Throwable failure = null;
        for (Future<?> f : running) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (failure == null) failure = e.getCause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (failure == null) failure = e;
            }
        }
        if (failure instanceof RuntimeException e) throw e;
        if (failure instanceof Error e) throw e;
        if (failure != null) throw new IllegalStateException(run + " on the GPUs failed: " + failure, failure);
    }

    /**
     * Refuses a run whose {@code hosts} (named "{@code role} host" in the message) run models of different shapes,
     * or list one host twice: every stage exchanges per-layer KV between them.
     */
    static void requireOneShape(List<CudaContextHost> hosts, String role) {
        DecoderConfig c = hosts.getFirst().model().config();
        for (CudaContextHost h : hosts) {
            DecoderConfig hc = h.model().config();
            if (hc.layers() != c.layers() || hc.heads() != c.heads() || hc.kvHeads() != c.kvHeads() || hc.headDim() != c.headDim()) {
                throw new IllegalArgumentException(role + " host " + h.name() + " runs a model of another shape than " + hosts.getFirst().name() + "'s");
            }
            if (hosts.stream().filter(o -> o == h).count() > 1) throw new IllegalArgumentException(role + " host " + h.name() + " is listed twice");
        }
    }
}
