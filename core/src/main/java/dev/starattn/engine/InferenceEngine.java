package dev.starattn.engine;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.LseMerge;
import dev.starattn.attention.Partial;
import dev.starattn.model.LlamaConfig;
import dev.starattn.model.LlamaModel;
import dev.starattn.model.Rope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Runs requests: phase 1 (context encoding, dense / star / ring over in-process hosts) and
 * phase 2 (the query host runs the model on the query and generated tokens; at every layer it
 * gathers attention partials from every host and merges them by log-sum-exp, exactly).
 */
public final class InferenceEngine {
    private final LlamaModel model;
    private final EngineOptions options;
    private final List<ContextHost> remoteHosts;
    private final BlockCache blockCache;
    private final ContextPipeline.Factory pipelines;

    /** An engine whose context hosts all live in this JVM ({@code options.hosts()} of them). */
    public InferenceEngine(LlamaModel model, EngineOptions options) {
        this(model, options, List.of());
    }

    /**
     * An engine over hosts in other processes. Star: they hold the first blocks, this process (the
     * query host) the last. Ring and ring-zigzag: the context is split among the remote hosts only
     * (they pass KV blocks to each other, {@link ContextHost#encodeRing}); this process holds only
     * the query's KV. Dense needs no other hosts and is refused.
     */
    public InferenceEngine(LlamaModel model, EngineOptions options, List<? extends ContextHost> remoteHosts) {
        this(model, options, remoteHosts, null, null);
    }

    private InferenceEngine(LlamaModel model, EngineOptions options, List<? extends ContextHost> remoteHosts, BlockCache blockCache,
                            ContextPipeline.Factory pipelines) {
        this.model = model;
        this.options = options;
        this.remoteHosts = List.copyOf(remoteHosts);
        this.blockCache = blockCache;
        this.pipelines = pipelines;
        if (pipelines != null && !remoteHosts.isEmpty()) {
            throw new IllegalArgumentException("an engine runs its contexts either on device pipelines or over remote hosts, not both");
        }
        if (!remoteHosts.isEmpty() && options.mode() == AttentionMode.DENSE) {
            throw new IllegalArgumentException("remote hosts run star, ring or ring-zigzag attention; " + options.mode().cliName
                    + " needs all hosts in this process");
        }
    }

    /**
     * This engine with a block cache for star phase 1 (shared by its in-process hosts; null for
     * none): blocks already encoded, with the same anchor at the same positions, are not encoded again.
     */
    public InferenceEngine withBlockCache(BlockCache cache) {
        return new InferenceEngine(model, options, remoteHosts, cache, pipelines);
    }

    /**
     * This engine with every context on a pipeline of {@code factory} (GPUs: the context hosts and the query
     * host there, {@link ContextPipeline}); the engine keeps the decode loop. The block cache does not apply.
     */
    public InferenceEngine withPipelines(ContextPipeline.Factory factory) {
        return new InferenceEngine(model, options, remoteHosts, blockCache, factory);
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

    public LlamaModel model() {
        return model;
    }

    /**
     * Refuses a context of n tokens that the hosts cannot share ({@link BlockPlan#requireWorkForEveryHost}):
     * callers check before their own work, {@link #encode} before it builds a host.
     */
    public void checkSplit(int n) {
        checkSplit(options, remoteHosts.size(), n);
    }

    /**
     * As {@link #checkSplit(int)} for an engine of {@code options} over {@code remoteHosts} remote hosts
     * (0: all in this JVM), before the engine is built. Star over remote hosts adds this process as a host;
     * ring over them uses the remote hosts alone.
     */
    public static void checkSplit(EngineOptions options, int remoteHosts, int n) {
        int hosts = remoteHosts == 0 ? options.hosts() : options.mode() == AttentionMode.STAR ? remoteHosts + 1 : remoteHosts;
        BlockPlan.requireWorkForEveryHost(n, options.withHosts(hosts));
    }

    /** Phase 1: encodes the context over the hosts. */
    public EncodedContext encode(int[] context, ProgressListener progress) {
        if (context.length == 0) throw new IllegalArgumentException("the context is empty");
        checkLength(context.length, 0);
        checkSplit(context.length);
        if (pipelines != null) return encodeOnPipeline(context, progress);
        List<ContextHost> hosts = new ArrayList<>(remoteHosts);
        for (ContextHost r : remoteHosts) r.useKvTypes(options.kvTypeK(), options.kvTypeV());
        List<LocalContextHost> locals = new ArrayList<>();
        int localCount = !remoteHosts.isEmpty() ? 1 : options.mode() == AttentionMode.DENSE ? 1 : options.hosts();
        for (int h = 0; h < localCount; h++) {
            LocalContextHost l = new LocalContextHost(remoteHosts.isEmpty() ? "host-" + h : "local", model, options.prefillChunk(),
                    options.kvTypeK(), options.kvTypeV(), options.mode() == AttentionMode.STAR ? blockCache : null);
            locals.add(l);
            hosts.add(l);
        }
        int hostCount = hosts.size();
        long t0 = System.nanoTime();
        switch (options.mode()) {
            case DENSE -> {
                LocalContextHost host = locals.getFirst();
                long s = System.nanoTime();
                KvCache[] own = new KvCache[model.config().layers()];
                for (int l = 0; l < own.length; l++) own[l] = host.cache(l);
                host.prefill(context, BlockPlan.range(0, context.length), own, true);
                host.stats().blocks = 1;
                host.stats().tokens = context.length;
                host.stats().phase1Nanos += System.nanoTime() - s;
                progress.blockDone(host.name(), 1, 1, context.length);
            }
            case STAR -> {
                List<List<BlockTask>> plan = BlockPlan.star(context, options.withHosts(hostCount));
                abandonOnFailure(hosts, () -> encodeStar(hosts, plan, progress));
            }
            case RING, RING_ZIGZAG -> {
                boolean zigzag = options.mode() == AttentionMode.RING_ZIGZAG;
                if (remoteHosts.isEmpty()) {
                    new RingPhase1(model, locals, progress).run(context, BlockPlan.ring(context.length, hostCount, zigzag));
                } else {
                    // The remote hosts form the ring and hold the whole context; the query host only the query.
                    abandonOnFailure(remoteHosts, () -> encodeRemoteRing(remoteHosts, context,
                            BlockPlan.ring(context.length, remoteHosts.size(), zigzag), progress));
                }
            }
        }
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

    /**
     * Star phase 1 needs no communication: in-process hosts of one processor take turns (each timed
     * on its own), hosts of different processors (CPU, each GPU) and remote hosts work at the same
     * time. The first host to fail fails the request at once, with its name: the others are
     * cancelled ({@link ContextHost#cancelEncode}); in-process work is waited for until it has
     * stopped (within a layer), remote calls wind down on their own.
     */
    private static void encodeStar(List<ContextHost> hosts, List<List<BlockTask>> plan, ProgressListener progress) {
        StarRun run = new StarRun();
        // Not closed when a host fails (closing waits for every task): the remote calls left end by their cancellation.
        var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
        for (int h = 0; h < hosts.size(); h++) {
            ContextHost host = hosts.get(h);
            List<BlockTask> blocks = plan.get(h);
            if (host.isRemote()) {
                run.started(List.of(host), true);
                pool.submit(() -> run.turns(List.of(host), List.of(blocks), progress, true));
            }
        }
        List<List<Integer>> groups = inProcessByProcessor(hosts);
        for (List<Integer> g : groups) run.started(g.stream().map(hosts::get).toList(), false);
        for (int g = 1; g < groups.size(); g++) {
            List<Integer> turns = groups.get(g);
            pool.submit(() -> run.turns(turns.stream().map(hosts::get).toList(), turns.stream().map(plan::get).toList(), progress, false));
        }
        if (!groups.isEmpty()) {
            List<Integer> first = groups.getFirst();  // the first processor on this thread
            run.turns(first.stream().map(hosts::get).toList(), first.stream().map(plan::get).toList(), progress, false);
        }
        run.await();
        pool.close();
    }

    /**
     * One star phase 1 over several hosts: which are still working, and the first failure. A host
     * is told to stop only while its phase 1 of this run may still be running, so a late
     * cancellation never reaches its next request.
     */
    private static final class StarRun {
        private final java.util.Set<ContextHost> running = new java.util.HashSet<>();
        private int localGroups, remoteHosts;
        private Throwable first;

        synchronized void started(List<ContextHost> group, boolean remote) {
            for (ContextHost h : group) {
                h.resetCancel();
                running.add(h);
            }
            if (remote) remoteHosts++;
            else localGroups++;
        }

        /** Runs one group's phase 1 (in-process hosts of a processor in turn, or one remote host). */
        Void turns(List<ContextHost> group, List<List<BlockTask>> blocks, ProgressListener progress, boolean remote) {
            try {
                for (int i = 0; i < group.size(); i++) {
                    ContextHost h = group.get(i);
                    try {
                        if (!failed()) h.encodeStar(blocks.get(i), progress);
                    } finally {
                        ended(h);
                    }
                }
            } catch (RuntimeException | Error e) {
                fail(e);
            } finally {
                groupEnded(group, remote);
            }
            return null;
        }

        private synchronized boolean failed() {
            return first != null;
        }

        private synchronized void ended(ContextHost h) {
            running.remove(h);
        }

        private synchronized void groupEnded(List<ContextHost> group, boolean remote) {
            running.removeAll(group);
            if (remote) remoteHosts--;
            else localGroups--;
            notifyAll();
        }

        private synchronized void fail(Throwable e) {
            if (first != null) return;  // a host cancelled because of the first failure
            first = e;
            String why = e.getMessage() != null ? e.getMessage() : e.toString();
            for (ContextHost h : running) h.cancelEncode(why);
            notifyAll();
        }

        /** Until every host is done, or one failed and every in-process host has stopped; then throws the first failure. */
        synchronized void await() {
            boolean interrupted = false;
            while (localGroups > 0 || (first == null && remoteHosts > 0)) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    if (!interrupted) fail(new IllegalStateException("interrupted while waiting for the context hosts", e));
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
            if (first instanceof RuntimeException r) throw r;
            if (first instanceof Error err) throw err;
        }
    }

    /**
     * Indices of the in-process hosts grouped by {@link ContextHost#processor()}, groups in order of
     * first appearance, hosts in order within a group: one group takes turns on one thread.
     */
    private static List<List<Integer>> inProcessByProcessor(List<? extends ContextHost> hosts) {
        java.util.Map<String, List<Integer>> groups = new java.util.LinkedHashMap<>();
        for (int i = 0; i < hosts.size(); i++) {
            if (!hosts.get(i).isRemote()) groups.computeIfAbsent(hosts.get(i).processor(), k -> new ArrayList<>()).add(i);
        }
        return new ArrayList<>(groups.values());
    }

    /** Networked ring phase 1: every remote host is started at once; they exchange KV among themselves. */
    private static void encodeRemoteRing(List<ContextHost> ring, int[] context, List<int[]> positions, ProgressListener progress) {
        String ringId = java.util.UUID.randomUUID().toString();
        try (var pool = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            List<java.util.concurrent.Future<Void>> futures = new ArrayList<>();
            for (int h = 0; h < ring.size(); h++) {
                int index = h;
                int[] p = positions.get(h);
                int[] toks = new int[p.length];
                for (int i = 0; i < p.length; i++) toks[i] = context[p[i]];
                futures.add(pool.submit(() -> {
                    ring.get(index).encodeRing(ringId, index, ring, toks, p, progress);
                    return null;
                }));
            }
            for (var f : futures) await(f);
        }
    }

    private static <T> T await(java.util.concurrent.Future<T> f) {
        try {
            return f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a context host", e);
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
        LlamaConfig c = model.config();
        int n = tokens.length;
        int[] positions = BlockPlan.range(pos, pos + n);
        LocalContextHost qh = ctx.queryHost;
        float[] x = model.forward(tokens, positions, 0, n, (layer, q, k, v, rows, p, off, att) -> {
            qh.append(layer, k, v, rows, p, off);
            List<Partial> parts = new ArrayList<>(ctx.hosts.size());
            List<ContextHost> asked = new ArrayList<>();
            for (ContextHost h : ctx.hosts) {
                if (h.kvTokens() > 0) asked.add(h); // an idle host holds nothing to attend to
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
            List<List<Integer>> groups = inProcessByProcessor(hosts);
            for (int g = 1; g < groups.size(); g++) {
                List<Integer> turns = groups.get(g);
                Partial[] done = new Partial[n];
                java.util.concurrent.Future<?> f = OTHER_PROCESSORS.submit(() -> {
                    for (int i : turns) done[i] = hosts.get(i).attend(layer, q, rows, positions);
                    return null;
                });
                for (int i : turns) pending[i] = () -> {
                    await(f);
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

    /**
     * Ring Attention phase 1 in one process: all hosts advance layer by layer; at each layer every
     * host's KV block visits every other host, which merges it into its running attention unless
     * the block lies wholly in its causal future. Each host's compute is timed to it.
     */
    static final class RingPhase1 {
        private final LlamaModel model;
        private final List<LocalContextHost> hosts;
        private final ProgressListener progress;

        RingPhase1(LlamaModel model, List<LocalContextHost> hosts, ProgressListener progress) {
            this.model = model;
            this.hosts = hosts;
            this.progress = progress;
        }

        void run(int[] context, List<int[]> positions) {
            LlamaConfig c = model.config();
            int hCount = hosts.size();
            RingHost[] ring = new RingHost[hCount];
            for (int h = 0; h < hCount; h++) {
                int[] p = positions.get(h);
                int[] toks = new int[p.length];
                for (int i = 0; i < p.length; i++) toks[i] = context[p[i]];
                ring[h] = new RingHost(model, hosts.get(h), toks, p);
            }
            KvCache[] block = new KvCache[hCount];
            for (int l = 0; l < c.layers(); l++) {
                for (int h = 0; h < hCount; h++) block[h] = ring[h].beginLayer(l);
                for (int h = 0; h < hCount; h++) {
                    LocalContextHost me = hosts.get(h);
                    for (int step = 1; step < hCount; step++) {
                        int src = (h - step + hCount) % hCount;
                        // The block travels the ring whatever its positions; it is used only if some
                        // of it is visible to this host's queries.
                        long bytes = block[src].bytes();
                        me.stats().phase1BytesReceived += bytes;
                        hosts.get(src).stats().phase1BytesSent += bytes;
                        ring[h].visit(block[src]);
                    }
                    ring[h].endLayer();
                }
            }
            for (LocalContextHost h : hosts) progress.blockDone(h.name(), 1, 1, h.stats().tokens);
        }
    }
}
