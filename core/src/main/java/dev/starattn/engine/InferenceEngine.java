package dev.starattn.engine;

import dev.starattn.attention.AttentionLimits;
import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.LseMerge;
import dev.starattn.attention.Partial;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Phase1;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Runs requests: phase 1 (context encoding by the options' strategy, over in-process or other hosts) and
 * phase 2 (the query host runs the model on the query and generated tokens; at every layer it
 * gathers attention partials from every host and merges them by log-sum-exp, exactly).
 */
public final class InferenceEngine {
    private final DecoderModel model;
    private final EngineOptions options;
    private final List<ContextHost> otherHosts;
    private final BlockCache blockCache;
    private final ContextPipeline.Factory pipelines;

    /** An engine whose context hosts all live in this JVM ({@code options.hosts()} of them). */
    public InferenceEngine(DecoderModel model, EngineOptions options) {
        this(model, options, List.of());
    }

    /**
     * An engine over hosts outside this JVM's CPU (other processes, GPUs). The strategy's hosts are
     * those, then this process's query host when the strategy has it hold the last share
     * ({@link AttentionStrategy#queryHostHoldsContext}: star), else the other hosts alone (ring: they pass KV blocks
     * to each other) and the query host holds only the query's KV. A strategy that does not split the context
     * (dense) is refused.
     */
    public InferenceEngine(DecoderModel model, EngineOptions options, List<? extends ContextHost> otherHosts) {
        this(model, options, otherHosts, null, null);
    }

    private InferenceEngine(DecoderModel model, EngineOptions options, List<? extends ContextHost> otherHosts, BlockCache blockCache,
                            ContextPipeline.Factory pipelines) {
        this.model = model;
        this.options = options;
        this.otherHosts = List.copyOf(otherHosts);
        this.blockCache = blockCache;
        this.pipelines = pipelines;
        if (pipelines != null && !otherHosts.isEmpty()) {
            throw new IllegalArgumentException("an engine runs its contexts either on device pipelines or over other hosts, not both");
        }
        if (!otherHosts.isEmpty() && !options.strategy().splitsContext()) {
            throw new IllegalArgumentException("other hosts hold shares of a split context; " + options.strategy().name()
                    + " keeps the whole context on the query host");
        }
    }

    /**
     * This engine with a block cache for star phase 1 (shared by its in-process hosts; null for
     * none): blocks already encoded, with the same anchor at the same positions, are not encoded again.
     */
    public InferenceEngine withBlockCache(BlockCache cache) {
        return new InferenceEngine(model, options, otherHosts, cache, pipelines);
    }

    /**
     * This engine with every context on a pipeline of {@code factory} (GPUs: the context hosts and the query
     * host there, {@link ContextPipeline}); the engine keeps the decode loop. The block cache does not apply.
     */
    public InferenceEngine withPipelines(ContextPipeline.Factory factory) {
        return new InferenceEngine(model, options, otherHosts, blockCache, factory);
    }

    /**
     * This engine for a context of {@code n} tokens: with as many of its hosts in this JVM (or on its pipelines) as
     * the context can be split into, when it is too short for all of them. A server, whose documents vary in length,
     * uses it; the CLI refuses such a context instead ({@link #checkSplit}), so that the user chooses. Hosts outside
     * this JVM are fixed: their engine is returned as it is.
     */
    public InferenceEngine fittedTo(int n) {
        if (!otherHosts.isEmpty() || n < 1) return this;
        for (int h = options.hosts(); h >= 1; h--) {
            EngineOptions o = options.withHosts(h);
            try {
                o.requireSplit(n);
            } catch (IllegalArgumentException tooMany) {
                continue;
            }
            return h == options.hosts() ? this : new InferenceEngine(model, o, otherHosts, blockCache, pipelines);
        }
        return this;  // no host count fits (an anchor longer than any block): encode says why
    }

    /**
     * This engine over the same hosts, block cache and pipelines running {@code o} instead: what {@code --attention
     * auto} chose for one context of a server, whose hosts are opened once for contexts of any length.
     */
    public InferenceEngine withOptions(EngineOptions o) {
        return o.equals(options) ? this : new InferenceEngine(model, o, otherHosts, blockCache, pipelines);
    }

    /** The pipelines this engine encodes on, or null when its hosts are on this JVM's CPU or remote. */
    public ContextPipeline.Factory pipelines() {
        return pipelines;
    }

    public BlockCache blockCache() {
        return blockCache;
    }

    public EngineOptions options() {
        return options;
    }

    public DecoderModel model() {
        return model;
    }

    /**
     * Refuses a context of n tokens that the hosts cannot share ({@link AttentionStrategy#requireSplit}):
     * callers check before their own work, {@link #encode} before it builds a host.
     */
    public void checkSplit(int n) {
        checkSplit(options, otherHosts.size(), n);
    }

    /**
     * As {@link #checkSplit(int)} for an engine of {@code options} over {@code otherHosts} hosts outside this
     * JVM's CPU (0: all in it), before the engine is built: the query host adds itself to them when the strategy
     * has it hold a share of the context.
     */
    public static void checkSplit(EngineOptions options, int otherHosts, int n) {
        int hosts = otherHosts == 0 ? options.hosts() : options.strategy().queryHostHoldsContext() ? otherHosts + 1 : otherHosts;
        options.withHosts(hosts).requireSplit(n);
    }

    /** Phase 1: encodes the context over the hosts. */
    public EncodedContext encode(int[] context, ProgressListener progress) {
        if (context.length == 0) throw new IllegalArgumentException("the context is empty");
        checkLength(context.length, 0);
        checkSplit(context.length);
        if (pipelines != null) return encodeOnPipeline(context, progress);
        AttentionStrategy strategy = options.strategy();
        List<ContextHost> hosts = new ArrayList<>(otherHosts);
        for (ContextHost r : otherHosts) r.useKvTypes(options.kvTypeK(), options.kvTypeV());
        List<LocalContextHost> locals = new ArrayList<>();
        int localCount = !otherHosts.isEmpty() ? 1 : options.hostsUsed();
        for (int h = 0; h < localCount; h++) {
            LocalContextHost l = new LocalContextHost(otherHosts.isEmpty() ? "host-" + h : "local", model, options.prefillChunk(),
                    options.kvTypeK(), options.kvTypeV(), strategy.blockwise() ? blockCache : null);
            locals.add(l);
            hosts.add(l);
        }
        // With other hosts, the query host holds the last share or, by the strategy, only the query.
        List<ContextHost> contextHosts = otherHosts.isEmpty() || strategy.queryHostHoldsContext() ? hosts : otherHosts;
        long t0 = System.nanoTime();
        abandonOnFailure(contextHosts, () -> strategy.encode(context, options.withHosts(contextHosts.size()), contextHosts, progress));
        long phase1 = System.nanoTime() - t0;
        // The query host is the one holding the end of the context: its KV grows with the query.
        LocalContextHost queryHost = locals.getLast();
        for (LocalContextHost h : locals) {
            if (h.kvTokens() > 0 && h.cache(0).maxPosition() == context.length - 1) queryHost = h;
        }
        return new EncodedContext(context, hosts, queryHost, options, phase1);
    }

    private EncodedContext encodeOnPipeline(int[] context, ProgressListener progress) {
        ContextPipeline p = pipelines.open(options);
        try {
            long phase1 = p.encode(context, options, progress);
            return new EncodedContext(context, p, options, phase1);
        } catch (RuntimeException | Error e) {
            p.close();
            throw e;
        }
    }

    /**
     * Runs a phase 1; when it fails, every host drops what it made for this request ({@link ContextHost#abandonEncode}):
     * a host that finished before another failed would otherwise hold a session nobody can use until its time to live.
     */
    private static void abandonOnFailure(List<? extends ContextHost> hosts, Runnable phase1) {
        try {
            phase1.run();
        } catch (RuntimeException | Error e) {
            for (ContextHost h : hosts) h.abandonEncode();
            throw e;
        }
    }

    private void checkLength(int contextTokens, int more) {
        int max = model.config().contextLength();
        if (max > 0 && (long) contextTokens + more > max) {
            throw new IllegalArgumentException("the prompt needs " + (contextTokens + more)
                    + " tokens but the model's context length is " + max);
        }
    }

    /**
     * Phase 2: runs the query at positions {@code ctx.length()..}, then generates up to
     * {@code maxNewTokens} tokens, calling {@code onToken} for each, stopping at a token for which
     * {@code stop} is true (that token is not emitted). The context stays reusable.
     */
    public GenerationResult generate(EncodedContext ctx, int[] query, SamplingOptions sampling, int maxNewTokens,
                                     IntPredicate stop, IntConsumer onToken) {
        if (query.length == 0) throw new IllegalArgumentException("the query is empty");
        checkLength(ctx.length(), query.length + maxNewTokens);
        for (ContextHost h : ctx.hosts) h.stats().resetPhase2();
        if (ctx.pipeline == null) ctx.queryHost.reserve(query.length + maxNewTokens);
        try {
            DecodeLoop.Outcome o = DecodeLoop.run((tokens, pos) -> step(ctx, tokens, pos), query, ctx.length(), sampling, maxNewTokens,
                    stop, onToken);
            List<HostStats> stats = new ArrayList<>();
            long othersPhase2 = 0;
            for (ContextHost h : ctx.hosts) {
                stats.add(h.stats());
                if (h != ctx.queryHost()) othersPhase2 += h.stats().phase2Nanos;
            }
            // The query host's own phase-2 time: everything it did except waiting for other hosts (a device
            // pipeline's hosts attend within its steps: all of it).
            ctx.queryHost().stats().phase2Nanos = o.totalNanos() - othersPhase2;
            return new GenerationResult(null, o.tokens(), ctx.length() + query.length, ctx.length(), query.length,
                    ctx.phase1Nanos, o.totalNanos(), o.ttftNanos(), o.decodeNanos(), stats, o.stopReason(), o.firstLogits());
        } finally {
            // Forget the query and generated tokens: the encoded context can serve the next query.
            if (ctx.pipeline != null) ctx.pipeline.reset();
            else ctx.queryHost.truncate(ctx.queryHostContextTokens);
        }
    }

    /** One phase-2 forward of {@code tokens} at positions {@code pos..}; returns the last row's logits. */
    private float[] step(EncodedContext ctx, int[] tokens, int pos) {
        if (ctx.pipeline != null) return ctx.pipeline.step(tokens, pos);
        DecoderConfig c = model.config();
        int n = tokens.length;
        int[] positions = BlockPlan.range(pos, pos + n);
        LocalContextHost qh = ctx.queryHost;
        float[] x = model.forward(tokens, positions, 0, n, (layer, q, k, v, rows, p, off, att) -> {
            qh.append(layer, k, v, rows, p, off);
            List<Partial> parts = new ArrayList<>(ctx.hosts.size());
            List<ContextHost> asked = new ArrayList<>();
            AttentionLimits limits = model.attentionLimits(layer);
            for (ContextHost h : ctx.hosts) {
                // An idle host holds nothing to attend to; in a sliding-window layer, a host whose keys all lie
                // before every query row's window holds nothing they see: neither is asked (no query sent, no partial back).
                if (h.kvTokens() > 0 && (h == qh || seesAny(h, limits, positions))) asked.add(h);
            }
            long g0 = System.nanoTime();
            parts.addAll(gather(asked, layer, q, rows, positions));
            qh.stats().phase2GatherNanos += System.nanoTime() - g0;
            qh.stats().phase2Gathers++;
            for (int i = 0; i < asked.size(); i++) {
                ContextHost h = asked.get(i);
                if (h != qh) {
                    long qBytes = h.queryWireBytes((long) rows * c.qDim());
                    long pBytes = h.partialWireBytes(parts.get(i));
                    h.stats().phase2BytesReceived += qBytes;
                    h.stats().phase2BytesSent += pBytes;
                    qh.stats().phase2BytesSent += qBytes;
                    qh.stats().phase2BytesReceived += pBytes;
                }
            }
            Partial merged = LseMerge.merge(parts);
            System.arraycopy(merged.out(), 0, att, 0, rows * c.qDim());
        });
        qh.addLinear(false, (long) n * c.linearFlopsPerToken() + c.outputFlopsPerToken());
        return model.logits(x, n - 1);
    }

    private static boolean seesAny(ContextHost h, AttentionLimits limits, int[] queryPositions) {
        if (limits.window() == 0) return true;
        int[] range = h.keyPositionRange();
        return range == null || limits.anyVisible(queryPositions[0], queryPositions[queryPositions.length - 1], range[0], range[1]);
    }

    /** Runs the in-process hosts of processors other than the first (GPUs beside the CPU or each other). */
    private static final java.util.concurrent.ExecutorService OTHER_PROCESSORS = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();

    /**
     * Asks every host for its partial: the calls to remote hosts are sent first and travel while
     * the in-process hosts compute, in turn per processor (hosts of further processors, GPUs, on
     * threads of their own); then the answers are collected in host order. When one host fails,
     * the calls still in flight are cancelled.
     */
    private static List<Partial> gather(List<ContextHost> hosts, int layer, float[] q, int rows, int[] positions) {
        int n = hosts.size();
        ContextHost.PendingPartial[] pending = new ContextHost.PendingPartial[n];
        List<Partial> out = new ArrayList<>(n);
        try {
            for (int i = 0; i < n; i++) {
                if (hosts.get(i).isRemote()) pending[i] = hosts.get(i).startAttend(layer, q, rows, positions);
            }
            List<List<Integer>> groups = Phase1.inProcessByProcessor(hosts);
            for (int g = 1; g < groups.size(); g++) {
                List<Integer> turns = groups.get(g);
                Partial[] done = new Partial[n];
                java.util.concurrent.Future<?> f = OTHER_PROCESSORS.submit(() -> {
                    for (int i : turns) done[i] = hosts.get(i).attend(layer, q, rows, positions);
                    return null;
                });
                for (int i : turns) pending[i] = () -> {
                    Phase1.await(f);
                    return done[i];
                };
            }
            if (!groups.isEmpty()) {
                for (int i : groups.getFirst()) pending[i] = hosts.get(i).startAttend(layer, q, rows, positions);
            }
            for (int i = 0; i < n; i++) out.add(pending[i].await());
            return out;
        } catch (RuntimeException | Error e) {
            for (int i = out.size(); i < n; i++) {
                if (pending[i] != null) pending[i].cancel();
            }
            throw e;
        }
    }
}
