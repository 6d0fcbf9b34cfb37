package dev.starattn.app.serve;

import dev.starattn.attention.KvType;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.strategy.AutoAttention;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Phase 1 with its metrics, and the encoded contexts alive now (documents' and running
 * requests'), for the per-host KV figures.
 */
final class LiveContexts {
    private final ServedModel served;
    private final Metrics metrics;
    private final Set<EncodedContext> live = ConcurrentHashMap.newKeySet();
    /** What --attention auto chose for each live context it chose for. */
    private final Map<EncodedContext, AutoAttention.Choice> choices = new ConcurrentHashMap<>();

    LiveContexts(ServedModel served, Metrics metrics) {
        this.served = served;
        this.metrics = metrics;
    }

    int size() {
        return live.size();
    }

    List<String> hostNames() {
        List<String> names = new ArrayList<>();
        int n = served.engine().options().hostsUsed();
        for (int i = 0; i < n; i++) names.add("host-" + i);
        return names;
    }

    /** Phase 1 with metrics: per-host progress and times. */
    EncodedContext encode(int[] tokens, ProgressListener progress) {
        Set<String> pendingHosts = ConcurrentHashMap.newKeySet();
        for (String h : hostNames()) {
            pendingHosts.add(h);
            metrics.host(h).encoding.incrementAndGet();
        }
        long t0 = System.nanoTime();
        try {
            // Documents vary in length: a short one runs on as many hosts as it can be split into (and under
            // --attention auto, on what pays for its length).
            ServedModel.Fitted fitted = served.engineFor(tokens.length);
            EncodedContext ctx = fitted.engine().encode(tokens, (host, done, total, n) -> {
                metrics.host(host).blocks.increment();
                if (done == total && pendingHosts.remove(host)) metrics.host(host).encoding.decrementAndGet();
                progress.blockDone(host, done, total, n);
            });
            live.add(ctx);
            if (fitted.choice() != null) choices.put(ctx, fitted.choice());
            metrics.phase1.observe((System.nanoTime() - t0) / 1e9);
            metrics.promptTokens.add(tokens.length);
            for (ContextHost h : ctx.hosts()) metrics.host(h.name()).phase1Seconds.add(h.stats().phase1Nanos / 1e9);
            return ctx;
        } finally {
            for (String h : pendingHosts) metrics.host(h).encoding.decrementAndGet();
        }
    }

    void release(EncodedContext ctx) {
        live.remove(ctx);
        choices.remove(ctx);
        ctx.release();
    }

    /** What --attention auto chose for {@code ctx}, or null (not asked, or the context is gone). */
    AutoAttention.Choice choice(EncodedContext ctx) {
        return choices.get(ctx);
    }

    /** KV bytes per host over every live context; every host is named, with 0 when it holds none. */
    Map<String, Long> hostKvBytes() {
        Map<String, Long> hostKv = new LinkedHashMap<>();
        for (String h : hostNames()) hostKv.put(h, 0L);
        for (EncodedContext c : live) {
            for (ContextHost h : c.hosts()) hostKv.merge(h.name(), h.kvBytes(), Long::sum);
        }
        return hostKv;
    }

    /** KV bytes {@code tokens} tokens take on this engine's hosts, for the memory budget. */
    long kvEstimate(long tokens) {
        // GPU hosts keep K and V in bf16 whatever the CPU's KV types (DeviceKv): 2 bytes a value, as F16.
        InferenceEngine engine = served.engine();
        var o = engine.options();
        if (engine.pipelines() != null) o = o.withKvTypes(KvType.F16, KvType.F16);
        return kvEstimate(served.model().config(), o, tokens);
    }

    /**
     * The exact KV bytes {@code tokens} tokens of a document take over all layers: a key row in
     * the key type plus a value row in the value type, Q8_0 block scales included.
     */
    static long kvEstimate(DecoderConfig c, EngineOptions o, long tokens) {
        return tokens * c.layers() * (o.kvTypeK().rowBytes(c.kvDim()) + o.kvTypeV().rowBytes(c.kvDim()));
    }
}
