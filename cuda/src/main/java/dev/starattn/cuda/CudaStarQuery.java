package dev.starattn.cuda;

import dev.starattn.config.Switches;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.DecodeLoop;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Star attention with the query host on a GPU (the "query GPU"): phase 1 over {@link CudaContextHost}s on
 * one or several GPUs, the last of them the query host's own block; phase 2 (the query rows at once, then
 * one token at a time, greedy or sampled) runs the model on the query GPU and, layer by layer, gathers the attention
 * partials (out f32, lse) of every host into a parts buffer on the query GPU and merges them there by
 * log-sum-exp, as {@code InferenceEngine}'s phase 2 does on the CPU.
 *
 * <p>Per layer, after RMSNorm, Q/K/V and RoPE on the query GPU (the query model's scratch):
 * <ol>
 * <li>hosts on other GPUs: the RoPE'd q is copied to a buffer on the host's GPU ({@code cuMemcpyPeer}) and its
 * attention over its cache of this layer launched there (all other GPUs work at once, asynchronously);
 * <li>the query GPU: the new K/V rows appended to the own cache, attention over it into slot 0, and the hosts
 * on the query GPU attend reading q in place and write straight into their slots (no copy);
 * <li>each other GPU's (out, lse) copied back into its slot ({@code cuMemcpyPeer});
 * <li>{@code lse_merge} of the slots, bf16 rounding, Wo and FFN ({@link CudaModel#layerOut}).
 * </ol>
 * Synchronization: everything runs on each GPU's legacy default stream, and cuMemcpyPeer is documented as
 * ordered after all work queued on both GPUs and before all work queued later, so the copies alone order the
 * pipeline. By default ({@code syncPeers}, {@code -Dstarattn.cuda.peerSync=true}) the pipeline does not rely on
 * that: it waits for the query GPU before q leaves it (step 1: q complete), for each other GPU before its
 * partial is copied back (step 3: its attention complete), and for both after the copies (step 4 reads them).
 * With a single GPU no copy and no sync happens. {@code -Dstarattn.cuda.peerSync=false} drops the explicit
 * waits (faster decode; the self-check runs both ways when it has 2 GPUs).
 *
 * <p>Phase 1 is the options' strategy over all the hosts ({@link #encode(int[], EngineOptions, ProgressListener)}); a
 * ring runs through {@link CudaRing}: then every host, the query host too, holds its share of the ring's split,
 * and phase 2 runs as above over those caches (attention is causal by position id, so any share works).
 *
 * <p>Not thread-safe; phase 1 and phase 2 must not overlap; the hosts and models belong to the caller (closed by
 * it), this object owns only its buffers. {@link CudaPipelines} puts it behind {@code InferenceEngine} (one per
 * encoded context, a lock over the GPUs); {@link #generate} is the same decode loop for the self-check and benchmarks.
 */
public final class CudaStarQuery implements AutoCloseable {
    /** One greedy generation: its tokens, the first step's last-row logits and times (phase 2 only). */
    public record Result(int[] tokens, float[] firstLogits, long ttftNanos, long phase2Nanos, String stopReason) {
        /** Tokens after the first per second of the steps after the first (as GenerationResult counts). */
        public double decodeTokensPerSecond() {
            long decode = phase2Nanos - ttftNanos;
            return tokens.length < 2 || decode <= 0 ? 0 : (tokens.length - 1) / (decode / 1e9);
        }
    }

    /** Another context host and, when it sits on another GPU, the buffers there (q, positions, out, lse). */
    private static final class Peer {
        final CudaContextHost host;
        final CudaDevice dev;
        final boolean sameGpu;
        long q, pos, out, lse;
        int cap;

        Peer(CudaContextHost host, CudaDevice queryGpu) {
            this.host = host;
            this.dev = host.model().device();
            this.sameGpu = dev.ordinal() == queryGpu.ordinal();
        }

        void ensure(int rows, DecoderConfig c) {
            if (sameGpu || rows <= cap) return;
            free();
            q = dev.alloc(4L * rows * c.qDim());
            pos = dev.alloc(4L * rows);
            out = dev.alloc(4L * rows * c.qDim());
            lse = dev.alloc(4L * rows * c.heads());
            cap = rows;
        }

        void free() {
            for (long p : new long[] {q, pos, out, lse}) dev.free(p);
            q = pos = out = lse = 0;
            cap = 0;
        }
    }

    private final List<CudaContextHost> hosts;  // plan order: the others, then the query host's own
    private final CudaContextHost own;
    private final CudaModel qm;
    private final CudaDevice qdev;
    private final List<Peer> peers = new ArrayList<>();
    private final List<CudaDevice> otherGpus = new ArrayList<>();
    private final boolean syncPeers;
    private final String peerAccess;
    private long parts, lses;
    private long partsBytes, lsesBytes;
    private int contextLength = -1;   // positions of the query start here
    private int contextTokens;        // the own host's KV rows after phase 1
    /** Whether single-token steps run as a replayed CUDA graph where they can ({@code -Dstarattn.cuda.graphs}, default true). */
    boolean graphs = Switches.cudaGraphs();
    private DecodeGraph graph;        // the captured decode step, null until captured and after anything it baked in changed
    private boolean graphFailed;      // a capture failed (stderr said why): eager steps from then on
    private long stepInts;            // device ints a replayed step reads: the own cache's write row, its length after the write
    /** Decode steps replayed from a graph, and graphs captured (checks and benchmarks report them). */
    int graphReplays, graphCaptures;
    /**
     * Whether the decode launches on the query GPU leave their key splits unmerged in the parts buffer, for one merge
     * over every host's splits a layer ({@link PartLayout}; {@code -Dstarattn.cuda.mergeOnce}, default true); false
     * merges each host's splits first, then the hosts (to compare).
     */
    boolean mergeOnce = Switches.cudaMergeOnce();

    /**
     * Where a step's attention partials go in the parts buffer: slot 0 is the query host's own cache, slot i + 1 the
     * i-th asked host; slot s holds partials [offsets[s], offsets[s + 1]). A raw slot is a decode launch on the query
     * GPU whose key splits are written there unmerged; any other slot holds one merged partial (a prefill launch, or
     * a host on another GPU, whose (out, lse) comes back merged). One {@code lse_merge} folds them all.
     */
    private record PartLayout(int[] offsets, boolean[] raw) {
        int parts() {
            return offsets[offsets.length - 1];
        }
    }

    private PartLayout partLayout(int n, List<Peer> asked) {
        int heads = qm.config().heads();
        int[] off = new int[asked.size() + 2];
        boolean[] raw = new boolean[asked.size() + 1];
        for (int s = 0; s <= asked.size(); s++) {
            int count = 0;
            if (mergeOnce && s == 0) {
                count = qm.attention().decodeParts(n, heads, own.cache(0), own.cache(0).size() + n);
            } else if (mergeOnce && asked.get(s - 1).sameGpu) {
                CudaContextHost h = asked.get(s - 1).host;
                count = h.model().attention().decodeParts(n, heads, h.cache(0), h.cache(0).size());
            }
            raw[s] = count > 0;
            off[s + 1] = off[s] + Math.max(1, count);
        }
        return new PartLayout(off, raw);
    }

    public CudaStarQuery(List<CudaContextHost> others, CudaContextHost queryHost) {
        this(others, queryHost, Switches.cudaPeerSync());
    }

    /**
     * @param others    the context hosts before the query host, in block order (any GPUs, several per GPU allowed)
     * @param queryHost the query host's own context host: the last block's KV; its model and GPU run phase 2
     * @param syncPeers whether to wait for the GPUs explicitly around peer copies (see the class comment)
     */
    public CudaStarQuery(List<CudaContextHost> others, CudaContextHost queryHost, boolean syncPeers) {
        this.own = queryHost;
        this.qm = queryHost.model();
        this.qdev = qm.device();
        this.syncPeers = syncPeers;
        List<CudaContextHost> all = new ArrayList<>(others);
        all.add(queryHost);
        this.hosts = List.copyOf(all);
        StringBuilder access = new StringBuilder();
        for (CudaContextHost h : others) {
            if (h == queryHost) throw new IllegalArgumentException("the query host is among the other hosts");
            DecoderConfig hc = h.model().config(), qc = qm.config();
            if (hc.layers() != qc.layers() || hc.heads() != qc.heads() || hc.kvHeads() != qc.kvHeads() || hc.headDim() != qc.headDim()) {
                throw new IllegalArgumentException("host " + h.name() + " runs a model of another shape than the query host's");
            }
            Peer p = new Peer(h, qdev);
            peers.add(p);
            if (!p.sameGpu && otherGpus.stream().noneMatch(d -> d.ordinal() == p.dev.ordinal())) {
                otherGpus.add(p.dev);
                // Both directions: q goes out to the host's GPU, its partial comes back.
                boolean there = qdev.enablePeerAccess(p.dev), back = p.dev.enablePeerAccess(qdev);
                access.append(String.format(" GPU%d<->GPU%d %s", qdev.ordinal(), p.dev.ordinal(),
                        there && back ? "peer access" : "no peer access (copies staged through the host)"));
            }
        }
        this.peerAccess = access.isEmpty() ? " one GPU, no peer copies" : access.toString();
    }

    /** Which host runs on which GPU, peer access and the sync mode, for logs. */
    public String layout() {
        StringBuilder s = new StringBuilder();
        for (CudaContextHost h : hosts) {
            s.append(h.name()).append("@GPU").append(h.model().device().ordinal()).append(h == own ? "(query) " : " ");
        }
        return s + "|" + peerAccess + " | explicit peer syncs " + (syncPeers ? "on" : "off");
    }

    /**
     * Phase 1: deals the context's blocks to the hosts (the options' strategy, the query host last) and encodes
     * them; hosts on one GPU take turns, GPUs work at once (one thread per GPU). Returns the wall time in ns.
     */
    public long encode(int[] context, EngineOptions options) {
        return encode(context, options, ProgressListener.NONE);
    }

    /**
     * {@link #encode(int[], EngineOptions)}, telling {@code progress} of each block. The options' strategy runs phase 1
     * over all the hosts, the query host last (a ring through {@link CudaRing}); a strategy that does not split the
     * context (dense) needs a single host, the query host. Phase 2 is the same either way.
     */
    public long encode(int[] context, EngineOptions options, ProgressListener progress) {
        dropGraph();  // the hosts' caches are refilled: key counts the graph baked in change
        if (options.hostsUsed() != hosts.size() && !options.strategy().splitsContext()) {
            throw new IllegalArgumentException(options.strategy().name() + " attention runs on one GPU host, not " + hosts.size());
        }
        for (CudaContextHost h : hosts) h.clear();
        contextLength = -1;
        long t0 = System.nanoTime();
        options.strategy().encode(context, options.withHosts(hosts.size()), hosts, progress);
        long wall = System.nanoTime() - t0;
        contextLength = context.length;
        contextTokens = own.kvTokens();
        return wall;
    }

    /**
     * Phase 2, greedy: the query at positions {@code context.length ..}, then up to {@code maxNewTokens} tokens
     * (argmax of the last row's logits), stopping before a token for which {@code stop} is true. The encoded
     * context stays reusable (the query's KV is dropped at the end).
     */
    public Result generate(int[] query, int maxNewTokens, IntPredicate stop) {
        return generate(query, new SamplingOptions(0, 1, 0), maxNewTokens, stop, t -> {});
    }

    /** Phase 2 by {@link DecodeLoop} (the engine's loop) with {@code sampling} (temperature 0: greedy), {@code onToken} told of each token. */
    public Result generate(int[] query, SamplingOptions sampling, int maxNewTokens, IntPredicate stop, IntConsumer onToken) {
        if (contextLength < 0) throw new IllegalStateException("no encoded context: call encode first");
        if (query.length == 0) throw new IllegalArgumentException("the query is empty");
        int max = qm.config().contextLength();
        if (max > 0 && (long) contextLength + query.length + maxNewTokens > max) {
            throw new IllegalArgumentException("context, query and new tokens need " + ((long) contextLength + query.length + maxNewTokens)
                    + " positions but the model's context length is " + max);
        }
        try {
            DecodeLoop.Outcome o = DecodeLoop.run(this::step, query, contextLength, sampling, maxNewTokens, stop, onToken);
            return new Result(o.tokens(), o.firstLogits(), o.ttftNanos(), o.totalNanos(), o.stopReason());
        } finally {
            reset();
        }
    }

    /** Drops the KV of the query and generated tokens from the query host (after {@link #step}s of one's own). */
    public void reset() {
        if (contextLength >= 0) own.truncate(contextTokens);
    }

    /** The positions a query starts at (the encoded context's length), or -1 before {@link #encode}. */
    public int contextLength() {
        return contextLength;
    }

    /**
     * One phase-2 forward of {@code tokens} at positions {@code pos ..} (their KV stays in the query host until
     * {@link #reset}); returns the last row's logits.
     */
    public float[] step(int[] tokens, int pos) {
        if (contextLength < 0) throw new IllegalStateException("no encoded context: call encode first");
        DecoderConfig c = qm.config();
        int n = tokens.length, heads = c.heads(), hd = c.headDim();
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = pos + i;
        List<Peer> asked = new ArrayList<>();
        for (Peer p : peers) if (p.host.kvTokens() > 0) asked.add(p);  // an idle host holds nothing to attend to
        long rh = (long) n * heads, slotOut = 4L * rh * hd, slotLse = 4L * rh;
        PartLayout layout = partLayout(n, asked);
        ensureParts(layout.parts() * slotOut, layout.parts() * slotLse);
        if (n == 1 && graphable(asked)) {
            float[] logits = graphStep(tokens, positions, asked, layout);
            if (logits != null) return logits;
        }
        boolean anyOther = false;
        for (Peer p : asked) {
            if (p.sameGpu) continue;
            anyOther = true;
            p.ensure(n, c);
            p.dev.copyIn(p.pos, positions, 0, n);  // a pageable upload waits for that GPU: idle at a step's start
        }
        qm.begin(tokens, positions, 0, n);
        layers(n, positions, asked, layout, anyOther, 0);
        return qm.lastLogits(n);
    }

    /**
     * Every layer of a step whose tokens {@link CudaModel#begin} embedded: the attention gathered from all hosts and
     * merged (the class comment's steps 1-4), then Wo and the FFN. With {@code dyn} (device ints: the own cache's write
     * row, its length after the write) the own cache's row and key count are read on the device and its host-side
     * bookkeeping is left to the caller: the form a CUDA graph captures (one GPU only, then no copies or syncs).
     */
    private void layers(int n, int[] positions, List<Peer> asked, PartLayout layout, boolean anyOther, long dyn) {
        DecoderConfig c = qm.config();
        int heads = c.heads(), hd = c.headDim(), qd = c.qDim();
        long rh = (long) n * heads, slotOut = 4L * rh * hd, slotLse = 4L * rh;
        int[] at = layout.offsets();
        CudaAttention attention = qm.attention();
        for (int l = 0; l < c.layers(); l++) {
            qm.layerQkv(l, n);
            // 1. Other GPUs: q out (complete once the query GPU is idle), their attention launched, not awaited.
            if (anyOther && syncPeers) qdev.synchronize();
            for (Peer p : asked) {
                if (p.sameGpu) continue;
                DeviceKv kv = p.host.cache(l);
                CudaDevice.copyPeer(p.dev, p.q, qdev, qm.q(), 4L * n * qd);
                p.host.model().attention().attend(p.q, p.pos, n, heads, kv, 0, kv.size(), p.out, p.lse);
            }
            // 2. The query GPU: the own cache (with the new rows) into slot 0, this GPU's other hosts into theirs.
            DeviceKv ownKv = own.cache(l);
            int k1 = ownKv.size() + n;  // after the append (dyn: the append below books nothing on the host)
            if (dyn == 0) ownKv.appendDevice(qm.k(), qm.v(), qm.pos(), n, positions, 0);
            else ownKv.launchAppend(qm.k(), qm.v(), qm.pos(), n, dyn);
            attendSlot(attention, layout, 0, ownKv, n, k1, dyn == 0 ? 0 : dyn + 4, parts + at[0] * slotOut, lses + at[0] * slotLse);
            for (int i = 0; i < asked.size(); i++) {
                Peer p = asked.get(i);
                if (!p.sameGpu) continue;
                DeviceKv kv = p.host.cache(l);
                attendSlot(p.host.model().attention(), layout, i + 1, kv, n, kv.size(), 0, parts + at[i + 1] * slotOut,
                        lses + at[i + 1] * slotLse);
            }
            // 3. Other GPUs' partials back into their slots (each GPU awaited first: its attention is done).
            for (int i = 0; i < asked.size(); i++) {
                Peer p = asked.get(i);
                if (p.sameGpu) continue;
                if (syncPeers) p.dev.synchronize();
                CudaDevice.copyPeer(qdev, parts + at[i + 1] * slotOut, p.dev, p.out, slotOut);
                CudaDevice.copyPeer(qdev, lses + at[i + 1] * slotLse, p.dev, p.lse, slotLse);
            }
            if (anyOther && syncPeers) {
                for (CudaDevice d : otherGpus) d.synchronize();  // the copies have landed before the merge reads them
                qdev.synchronize();
            }
            // 4. Merge on the query GPU, bf16 for the output projection (as attendPrefill writes it), Wo, FFN.
            attention.merge(parts, lses, layout.parts(), (int) rh, hd, qm.att(), qm.lse());
            long elems = (long) n * qd;
            qdev.launch("f32_to_bf16", qdev.gridFor(elems, 256), 1, 1, 256, 0, qm.att(), qm.attb(), elems);
            qm.layerOut(l, n);
        }
    }

    /** The query GPU's attention over keys [0, k1) of kv into slot s: its key splits unmerged where raw, else merged. */
    private void attendSlot(CudaAttention attention, PartLayout layout, int s, DeviceKv kv, int n, int k1, long dynK1, long out, long lse) {
        int heads = qm.config().heads();
        if (!layout.raw()[s]) {
            attention.attend(qm.q(), qm.pos(), n, heads, kv, 0, k1, dynK1, out, lse);
            return;
        }
        int wrote = attention.attendDecodeParts(qm.q(), qm.pos(), n, heads, kv, 0, k1, dynK1, out, lse);
        int room = layout.offsets()[s + 1] - layout.offsets()[s];
        if (wrote != room) throw new IllegalStateException("slot " + s + " has room for " + room + " partials, the launch wrote " + wrote);
    }

    /**
     * Whether a one-token step can be a graph: graphs on and not failed, every asked host on the query GPU (a step
     * over several GPUs copies between them, which this capture does not take), and every cache read by a decode kernel
     * (only those read a device key count).
     */
    private boolean graphable(List<Peer> asked) {
        if (!graphs || graphFailed) return false;
        int heads = qm.config().heads();
        if (qm.attention().decodeVectors(1, heads, own.cache(0)) == 0) return false;
        for (Peer p : asked) {
            if (!p.sameGpu || p.host.model().attention().decodeVectors(1, heads, p.host.cache(0)) == 0) return false;
        }
        return true;
    }

    /**
     * A one-token step as a replay of the captured decode step, capturing it first where there is none or it no longer
     * matches (a buffer moved, a host's cache changed). Null where this step must run eagerly: the capture allocated
     * (a buffer grew; the next step captures again) or failed (graphs off for this query, one line on stderr).
     */
    private float[] graphStep(int[] tokens, int[] positions, List<Peer> asked, PartLayout layout) {
        int heads = qm.config().heads();
        int at = own.cache(0).size();
        // Room for this row and the split scratch now: the capture must not allocate, and a replay must not outgrow it.
        for (int l = 0; l < qm.config().layers(); l++) own.cache(l).ensure(at + 1);
        qm.attention().reserveDecode(1, heads, own.cache(0), at + 1);
        for (Peer p : asked) p.host.model().attention().reserveDecode(1, heads, p.host.cache(0), p.host.cache(0).size());
        if (stepInts == 0) stepInts = qdev.alloc(8);
        qm.upload(tokens, positions, 0, 1);
        qdev.copyIn(stepInts, new int[] {at, at + 1}, 0, 2);
        int[] fixed = new int[asked.size()];
        for (int i = 0; i < fixed.length; i++) fixed[i] = asked.get(i).host.kvTokens();
        if (graph != null && !graph.matches(fixed)) dropGraph();
        if (graph == null) {
            try {
                graph = DecodeGraph.capture(qdev, fixed, () -> {
                    qm.embed(1);
                    layers(1, positions, asked, layout, false, stepInts);
                    qm.logitsOnDevice(1);
                });
            } catch (CudaException e) {
                graphFailed = true;
                System.err.println("CUDA graph capture of the decode step failed, decoding without graphs: " + e.getMessage());
                return null;
            }
            if (graph == null) return null;
            graphCaptures++;
        }
        for (int l = 0; l < qm.config().layers(); l++) own.cache(l).recordAppend(1, positions, 0);
        graph.launch();
        graphReplays++;
        return qm.downloadLogits();
    }

    private void dropGraph() {
        if (graph != null) graph.close();
        graph = null;
    }

    private void ensureParts(long outBytes, long lseBytes) {
        if (outBytes > partsBytes) {
            qdev.free(parts);
            parts = qdev.alloc(outBytes);
            partsBytes = outBytes;
        }
        if (lseBytes > lsesBytes) {
            qdev.free(lses);
            lses = qdev.alloc(lseBytes);
            lsesBytes = lseBytes;
        }
    }

    /** Frees this object's buffers (not the hosts or models). */
    @Override
    public void close() {
        reset();
        dropGraph();
        qdev.free(stepInts);
        stepInts = 0;
        for (Peer p : peers) p.free();
        qdev.free(parts);
        qdev.free(lses);
        parts = lses = 0;
        partsBytes = lsesBytes = 0;
    }

    @Override
    public String toString() {
        return "CudaStarQuery[" + layout() + "]";
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
