package dev.starattn.engine;

import java.util.List;

/**
 * One context's phase 1 and phase 2 run by another device than this JVM's CPU (the GPUs of the cuda module):
 * its own context hosts, the last of them the query host, whose model and attention run on that device. The
 * engine keeps what does not depend on the device: the plan's options, the decode loop and its sampler,
 * the stop rules, the timings. One pipeline per encoded context ({@link Factory#open}): fresh KV, shared
 * weights; {@link #close} frees the KV.
 */
public interface ContextPipeline extends AutoCloseable {
    /** The hosts in block order, the query host last. */
    List<? extends ContextHost> hosts();

    /** The host whose model runs the query (the last of {@link #hosts}). */
    default ContextHost queryHost() {
        return hosts().getLast();
    }

    /** Phase 1 of {@code context} by {@code options.strategy()}, telling {@code progress} of each block; returns its wall time in ns. */
    long encode(int[] context, EngineOptions options, ProgressListener progress);

    /** One phase-2 forward of {@code tokens} at positions {@code pos ..} (their KV kept until {@link #reset}); the last row's logits. */
    float[] step(int[] tokens, int pos);

    /** Drops the KV of the query and generated tokens: the context serves the next query. */
    void reset();

    /** Where the hosts run, for logs (which host on which GPU, how partials travel); empty when there is nothing to say. */
    default String layout() {
        return "";
    }

    /** Frees the context's KV on the device. */
    @Override
    void close();

    /** Opens pipelines over one set of devices (the model's weights uploaded once, shared by all its pipelines). */
    interface Factory {
        /** A fresh pipeline with {@code options.hosts()} hosts, nothing encoded yet. */
        ContextPipeline open(EngineOptions options);

        /** Where the pipelines run, for logs ("2 GPU(s): NVIDIA H200, ..."). */
        String describe();
    }
}
