package dev.starattn.engine;

import java.util.List;

/**
 * A context after phase 1: its KV spread over the hosts, ready for any number of queries
 * (each query's KV is dropped again afterwards, so the context can be reused).
 */
public final class EncodedContext {
    final int[] tokens;
    final List<ContextHost> hosts;
    final LocalContextHost queryHost;
    final int queryHostContextTokens;
    final EngineOptions options;
    final long phase1Nanos;
    /** Where the context lives when not on this JVM's CPU hosts (then {@link #queryHost} is null), else null. */
    final ContextPipeline pipeline;

    EncodedContext(int[] tokens, List<ContextHost> hosts, LocalContextHost queryHost, EngineOptions options,
                   long phase1Nanos) {
        this.tokens = tokens;
        this.hosts = hosts;
        this.queryHost = queryHost;
        this.queryHostContextTokens = queryHost.kvTokens();
        this.options = options;
        this.phase1Nanos = phase1Nanos;
        this.pipeline = null;
    }

    EncodedContext(int[] tokens, ContextPipeline pipeline, EngineOptions options, long phase1Nanos) {
        this.tokens = tokens;
        this.hosts = List.copyOf(pipeline.hosts());
        this.queryHost = null;
        this.queryHostContextTokens = 0;
        this.options = options;
        this.phase1Nanos = phase1Nanos;
        this.pipeline = pipeline;
    }

    public int length() {
        return tokens.length;
    }

    public EngineOptions options() {
        return options;
    }

    /** Wall time of phase 1 in this process (hosts run one after another here). */
    public long phase1Nanos() {
        return phase1Nanos;
    }

    /** Releases the KV every host holds for this context (remote hosts free their session, a device pipeline its memory). */
    public void release() {
        if (pipeline != null) {
            pipeline.close();
            return;
        }
        for (ContextHost h : hosts) h.clear();
    }

    public List<? extends ContextHost> hosts() {
        return hosts;
    }

    /** Where a device pipeline put this context's hosts ({@link ContextPipeline#layout}); empty for CPU or remote hosts. */
    public String placement() {
        return pipeline != null ? pipeline.layout() : "";
    }

    public ContextHost queryHost() {
        return pipeline != null ? pipeline.queryHost() : queryHost;
    }

    /**
     * The slowest host's own phase-1 compute time, with what it waited for other hosts' data between its steps
     * (star-pass's per-layer gather): what a cluster of H machines would wait for.
     */
    public long phase1CriticalPathNanos() {
        long max = 0;
        for (ContextHost h : hosts) max = Math.max(max, h.stats().phase1Nanos + h.stats().phase1WaitNanos);
        return max;
    }
}
