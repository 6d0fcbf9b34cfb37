package dev.starattn.cuda;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Ring Attention phase 1 over {@link CudaContextHost}s on one or several GPUs of this process (several hosts per
 * GPU allowed), the GPU counterpart of the CPU engine's {@code RingPhase1}/{@code RingHost}. Host h holds the
 * tokens at {@code RingStrategy.shares(n, H).get(h)} (basic: one contiguous range; zigzag: the chunk pair
 * (h, 2H-1-h)); every host owns its own {@link CudaModel.Activations}, so that all hosts' hidden states stay alive
 * while they advance layer by layer together. After the run each host's caches hold its own tokens' KV of every
 * layer, and phase 2 uses them exactly as it uses star hosts ({@link CudaContextHost#attend}, {@link CudaStarQuery}).
 *
 * <p>Each host embeds its tokens; then, per layer, three stages:
 * <ol>
 * <li>(a) every host: RMSNorm, Q/K/V, RoPE ({@link CudaModel#layerQkv}), its own K/V appended to its own cache of the
 * layer;
 * <li>(p) every host: the KV blocks of this layer that it needs from hosts on other GPUs (its K and V rows in bf16,
 * and their positions) copied into staging {@link DeviceKv}s on its own GPU by peer copy ({@link DeviceKv#copyOf}):
 * this is the ring's "passing KV between GPUs". A block wholly in this host's causal future (all its positions
 * after this host's last position) is neither copied nor used; a block on the same GPU is read in place;
 * <li>(b) every host: attention of its q over its own cache into slot 0 of a parts buffer, and over every other
 * host's visible block (in place or staged) into further slots; {@code lse_merge} of the slots, bf16 rounding and
 * {@link CudaModel#layerOut}.
 * </ol>
 * Masking is causal by position id (every attention launch compares key and query positions), so basic and zigzag
 * plans both give exact attention: the result equals dense attention up to bf16 rounding and the order of sums.
 *
 * <p><b>A first version, not a true ring</b>: a true ring passes each block on to the successor in H-1 steps that
 * overlap with the attention; here every host gathers the blocks it needs once per layer (a gather, not a
 * rotation) and nothing overlaps with the copies, which have a stage of their own: {@code cuMemcpyPeer} is
 * serialized with all work pending on both GPUs, so a copy issued while the source GPU computes its own stage (b)
 * would wait for it; issued in stage (p), when every GPU is idle, the copies wait for nothing but each other
 * (an overlapping version would use {@code cuMemcpyPeerAsync} on streams of their own and events). The attention launches are our kernels
 * ({@link CudaAttention#attend}: WGMMA_X2 on Hopper), not cuDNN (which {@link CudaModel#forward}'s prefill, and
 * so star phase 1, uses where it pays): the merge needs f32 partials, which cuDNN's bf16 output is not.
 *
 * <p>Threads and synchronisation: one thread per GPU, hosts of one GPU in turn on it, GPUs at the same time; each
 * stage runs on all GPUs and is awaited as a whole before the next starts (a barrier). Every host's work in a stage
 * ends with a synchronize of its GPU; that gives each host's own time ({@code HostStats.phase1Nanos}; stage (p)
 * counts to the receiving host), makes every cache of the layer complete at the end of stage (a) before stage (p) on
 * another GPU copies it (cuMemcpyPeer on the legacy default stream would be ordered after the source GPU's queued
 * work anyway; as with {@link CudaStarQuery}'s default, the pipeline does not rely on that), and every staged block
 * complete at the end of stage (p) before stage (b) reads it. Nothing writes a layer's caches after stage (a), and
 * no GPU's thread touches another host's activations, parts or staging buffers.
 *
 * <p>Checked against the CPU by the bench module's CudaSelfCheck, section "ring on GPUs".
 */
public final class CudaRing {
    private CudaRing() {}

    /** One host of the ring: its share of the context, activations, parts buffer and staging caches. */
    private static final class Member implements GpuStage.Member, AutoCloseable {
        final int index;
        final CudaContextHost host;
        final CudaModel model;
        final CudaDevice dev;
        final int[] tokens, positions;
        final int n, minPos, maxPos;
        final CudaModel.Activations act;
        final List<Member> sources = new ArrayList<>();  // the other hosts whose blocks it attends to, in ring order
        final Map<Integer, DeviceKv> staging = new HashMap<>();  // by source index, for blocks on other GPUs
        final long[] bytesFrom;  // peer-copied bytes by source index
        long parts, lses;  // slots x (n x qDim) and slots x (n x heads), f32
        long pairsPerLayer;  // visible (query, key) pairs of one head over all its slots

        Member(int index, CudaContextHost host, int[] tokens, int[] positions, int hostCount) {
            if (tokens.length != positions.length) {
                throw new IllegalArgumentException("ring host " + host.name() + ": " + tokens.length + " tokens but " + positions.length + " positions");
            }
            this.index = index;
            this.host = host;
            this.model = host.model();
            this.dev = model.device();
            this.tokens = tokens;
            this.positions = positions;
            this.n = positions.length;
            this.minPos = Arrays.stream(positions).min().orElse(Integer.MAX_VALUE);
            this.maxPos = Arrays.stream(positions).max().orElse(Integer.MIN_VALUE);
            this.act = model.newActivations();
            this.bytesFrom = new long[hostCount];
        }

        @Override
        public CudaContextHost host() {
            return host;
        }

        @Override
        public boolean idle() {
            return n == 0;
        }

        boolean sameGpu(Member o) {
            return dev.ordinal() == o.dev.ordinal();
        }

        /** Sources (ring order: predecessor first, as the blocks would arrive), pair counts and the parts buffer. */
        void plan(List<Member> all) {
            DecoderConfig c = model.config();
            int hc = all.size();
            pairsPerLayer = DeviceKv.visiblePairs(positions, 0, n, positions);
            for (int step = 1; step < hc; step++) {
                Member src = all.get((index - step + hc) % hc);
                if (src.n == 0 || src.minPos > maxPos) continue;  // nothing, or wholly in this host's causal future
                sources.add(src);
                pairsPerLayer += DeviceKv.visiblePairs(src.positions, 0, src.n, positions);
            }
            int slots = 1 + sources.size();
            host.reserve(host.kvTokens() + n);  // its share's KV rows of every layer, sized once (a clear error if they do not fit)
            try {
                act.ensure(n);  // now: every host's activations live at once through the whole run
                parts = dev.alloc(4L * slots * n * c.qDim());
                lses = dev.alloc(4L * slots * n * c.heads());
            } catch (CudaException e) {
                throw new CudaException("ring host " + host.name() + " on GPU " + dev.ordinal() + ": its activations and attention partials ("
                        + n + " rows, " + slots + " slots) do not fit: " + e.getMessage(), e);
            }
        }

        /** The staging cache on this host's GPU for blocks of {@code src} (on another GPU). */
        DeviceKv staging(Member src) {
            DecoderConfig c = model.config();
            return staging.computeIfAbsent(src.index, i -> new DeviceKv(dev, c.kvHeads(), c.headDim(), Math.max(1, src.n), true));
        }

        /** Block {@code layer} of {@code src} as this host reads it: in place on the same GPU, else its staged copy. */
        DeviceKv block(Member src, int layer) {
            return sameGpu(src) ? src.host.cache(layer) : staging.get(src.index);
        }

        @Override
        public void close() {
            act.close();
            dev.free(parts);
            dev.free(lses);
            parts = lses = 0;
            for (DeviceKv s : staging.values()) s.close();
            staging.clear();
        }
    }

    /**
     * Ring phase 1 of {@code context} over {@code hosts} (any GPUs, several per GPU allowed), host h holding the
     * positions of {@code Strategies.RING(_ZIGZAG).shares(context.length, hosts.size()).get(h)}. Returns the wall time in ns.
     */
    public static long encode(List<CudaContextHost> hosts, int[] context, boolean zigzag, ProgressListener progress) {
        List<int[]> positions = (zigzag ? Strategies.RING_ZIGZAG : Strategies.RING).shares(context.length, hosts.size());
        List<int[]> tokens = new ArrayList<>();
        for (int[] p : positions) {
            int[] t = new int[p.length];
            for (int i = 0; i < p.length; i++) t[i] = context[p[i]];
            tokens.add(t);
        }
        return encode(hosts, tokens, positions, progress);
    }

    /** Ring phase 1 with host h holding {@code tokens.get(h)} at {@code positions.get(h)}. Returns the wall time in ns. */
    public static long encode(List<CudaContextHost> hosts, List<int[]> tokens, List<int[]> positions, ProgressListener progress) {
        int hc = hosts.size();
        if (hc == 0) throw new IllegalArgumentException("a ring needs at least one host");
        if (tokens.size() != hc || positions.size() != hc) throw new IllegalArgumentException("one token and position list per ring host");
        GpuStage.requireOneShape(hosts, "ring");
        DecoderConfig c = hosts.getFirst().model().config();
        long t0 = System.nanoTime();
        List<Member> members = new ArrayList<>();
        Map<Integer, List<Member>> byGpu = new LinkedHashMap<>();
        boolean ok = false;
        try (ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, (int) hosts.stream().map(h -> h.model().device().ordinal()).distinct().count()),
                Thread.ofPlatform().name("ring-gpu-", 0).factory())) {
            for (int h = 0; h < hc; h++) {
                hosts.get(h).clear();
                Member m = new Member(h, hosts.get(h), tokens.get(h), positions.get(h), hc);
                members.add(m);
                byGpu.computeIfAbsent(m.dev.ordinal(), k -> new ArrayList<>()).add(m);
            }
            List<CudaDevice> gpus = byGpu.values().stream().map(t -> t.getFirst().dev).toList();
            for (CudaDevice a : gpus) {
                for (CudaDevice b : gpus) if (a.ordinal() != b.ordinal()) a.enablePeerAccess(b);  // false: staged by the driver, still correct
            }
            for (Member m : members) {
                m.plan(members);
                m.host.stats().blocks = m.n > 0 ? 1 : 0;
                m.host.stats().tokens = m.n;
            }
            GpuStage.run(pool, byGpu, RUN, "embedding", m -> m.model.begin(m.act, m.tokens, m.positions, 0, m.n));
            int heads = c.heads(), hd = c.headDim();
            for (int l = 0; l < c.layers(); l++) {
                int layer = l;
                // (a) Q, K, V; the own K/V into the own cache (complete on return: stage() synchronizes each host).
                GpuStage.run(pool, byGpu, RUN, "(a) layer " + l + " Q/K/V", m -> {
                    m.model.layerQkv(m.act, layer, m.n);
                    m.host.cache(layer).appendDevice(m.act.k, m.act.v, m.act.pos, m.n, m.positions, 0);
                });
                // (p) The visible blocks of hosts on other GPUs, peer-copied here (all GPUs idle: stage (a) synchronized them).
                GpuStage.run(pool, byGpu, RUN, "(p) layer " + l + " peer copies", m -> {
                    for (Member src : m.sources) {
                        if (m.sameGpu(src)) continue;
                        DeviceKv block = src.host.cache(layer);
                        m.staging(src).copyOf(block);
                        m.bytesFrom[src.index] += block.bytes() + 4L * block.size();
                    }
                });
                // (b) Attention over the own block and the visible others, merge, Wo, FFN.
                GpuStage.run(pool, byGpu, RUN, "(b) layer " + l + " attention and FFN", m -> {
                    CudaAttention attention = m.model.attention();
                    long slotOut = 4L * m.n * c.qDim(), slotLse = 4L * m.n * heads;
                    DeviceKv own = m.host.cache(layer);
                    attention.attend(m.act.q, m.act.pos, m.n, heads, own, 0, own.size(), m.parts, m.lses);
                    int slot = 1;
                    for (Member src : m.sources) {
                        DeviceKv block = m.block(src, layer);
                        attention.attend(m.act.q, m.act.pos, m.n, heads, block, 0, block.size(), m.parts + slot * slotOut, m.lses + slot * slotLse);
                        slot++;
                    }
                    attention.merge(m.parts, m.lses, slot, m.n * heads, hd, m.act.att, m.act.lse);
                    long elems = (long) m.n * c.qDim();
                    m.dev.launch("f32_to_bf16", m.dev.gridFor(elems, 256), 1, 1, 256, 0, m.act.att, m.act.attb, elems);
                    m.model.layerOut(m.act, layer, m.n);
                    m.host.stats().phase1LinearFlops += (long) m.n * c.linearFlopsPerToken() / c.layers();
                    m.host.stats().phase1AttentionFlops += AttentionKernel.flops(m.pairsPerLayer * heads, 1, hd);
                });
            }
            // Bytes that crossed between GPUs, counted once the GPU threads are done (HostStats is not thread-safe).
            for (Member m : members) {
                for (Member src : members) {
                    m.host.stats().phase1BytesReceived += m.bytesFrom[src.index];
                    src.host.stats().phase1BytesSent += m.bytesFrom[src.index];
                }
            }
            ok = true;
        } finally {
            for (Member m : members) m.close();
            if (!ok) for (CudaContextHost h : hosts) h.clear();  // no half-encoded context stays behind
        }
        for (Member m : members) progress.blockDone(m.host.name(), 1, 1, m.n);
        return System.nanoTime() - t0;
    }

    // ---- InferenceEngine's path: the GPU hosts as the ring, the query host on the CPU ----

    private static final String RUN = "ring phase 1";
    /** One ring member's share, as it arrives through {@link #join}. */
    private record Share(int[] tokens, int[] positions) {}

    private static final GpuRendezvous<Share> RENDEZVOUS = new GpuRendezvous<>("ring");

    /**
     * {@link CudaContextHost#encode} of a ring share: {@code InferenceEngine} calls it on every host of the ring at once (from
     * threads of its own, the same {@code ringId}), as it does for hosts in other processes, each with its own tokens
     * and positions. GPU hosts of one process do not pass KV over a network: the calls meet here, the last to arrive
     * runs {@link #encode} over all of them, the others wait for it; all return (or throw) together.
     */
    static void join(String ringId, int index, List<? extends ContextHost> ring, int[] tokens, int[] positions, ProgressListener progress) {
        List<CudaContextHost> hosts = new ArrayList<>();
        for (ContextHost h : ring) {
            if (!(h instanceof CudaContextHost g)) {
                throw new IllegalArgumentException("a ring over GPU context hosts takes GPU hosts only; " + h.name() + " is not one");
            }
            hosts.add(g);
        }
        RENDEZVOUS.join(ringId, index, ring.size(), new Share(tokens, positions),
                shares -> encode(hosts, shares.stream().map(Share::tokens).toList(), shares.stream().map(Share::positions).toList(), progress));
    }
}
