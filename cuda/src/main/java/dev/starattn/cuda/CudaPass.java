package dev.starattn.cuda;

import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EncodeTask.PassRule;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.PassClock;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * Star-pass phase 1 over {@link CudaContextHost}s on one or several GPUs of this process (several hosts per GPU
 * allowed), the GPU counterpart of the CPU's in-process star-pass ({@code StarPassStrategy}) and of the cluster's
 * {@code PassEncoder}: each host's side is a {@link CudaPassHost}, and all hosts advance layer by layer together, in
 * three stages a layer ({@link GpuStage}: one thread per GPU, hosts of one GPU in turn, each stage a barrier):
 * <ol>
 * <li>(a) every host: Q/K/V of its anchors and blocks, and the rows its blocks pass ({@link CudaPassHost#beginLayer});
 * <li>(p) every host: the passing rows of every earlier host (context order) copied into a cache on its own GPU
 * (device to device, or a peer copy from another GPU; all GPUs idle then, as in {@link CudaRing}'s stage (p));
 * <li>(b) every host: the attention of its blocks over anchor, passing rows and block, and the rest of the layer
 * ({@link CudaPassHost#endLayer}).
 * </ol>
 * Host h needs only hosts 0..h-1's stage (a) of the layer: a cluster's host would wait for their rows, not for the
 * stage's barrier, so the wait booked to it ({@code HostStats.phase1WaitNanos}) is {@link PassClock}'s, as in process
 * on the CPU. After the run each host's caches hold its blocks' KV of every layer, and phase 2 uses them as it uses
 * star hosts. Checked against the CPU by the bench module's CudaSelfCheck, section "star-pass on GPUs".
 */
public final class CudaPass {
    private static final String RUN = "star-pass phase 1";
    private static final GpuRendezvous<List<BlockTask>> RENDEZVOUS = new GpuRendezvous<>("star-pass run");

    private CudaPass() {}

    /**
     * {@link CudaContextHost#encode} of a star-pass member: the engine calls it on every member at once; the calls meet
     * ({@link GpuRendezvous}) and one {@link #encode} runs the whole run.
     */
    static void join(EncodeTask.PassLink link, List<BlockTask> blocks, ProgressListener progress) {
        List<CudaContextHost> hosts = new ArrayList<>();
        for (ContextHost h : link.members()) {
            if (!(h instanceof CudaContextHost g)) {
                throw new IllegalArgumentException("a star-pass run over GPU context hosts takes GPU hosts only; " + h.name() + " is not one");
            }
            hosts.add(g);
        }
        RENDEZVOUS.join(link.runId(), link.index(), hosts.size(), blocks, all -> encode(hosts, all, link.rule(), progress));
    }

    /**
     * Star-pass phase 1 with host h encoding {@code blocks.get(h)} (star's blocks, in context order over the hosts),
     * each block passing the rows {@code rule} chooses. The hosts' caches then hold their blocks' KV (what they held
     * before is dropped, and all of it on failure). Returns the wall time in ns.
     */
    public static long encode(List<CudaContextHost> hosts, List<List<BlockTask>> blocks, PassRule rule, ProgressListener progress) {
        int n = hosts.size();
        if (blocks.size() != n) throw new IllegalArgumentException(blocks.size() + " block lists for " + n + " star-pass hosts");
        if (hosts.isEmpty()) throw new IllegalArgumentException("a star-pass run needs at least one host");
        GpuStage.requireOneShape(hosts, "star-pass");
        long t0 = System.nanoTime();
        for (CudaContextHost h : hosts) h.clear();  // a run replaces what the hosts held, as a ring does
        List<Slot> slots = new ArrayList<>();
        for (int h = 0; h < n; h++) slots.add(new Slot(h, hosts.get(h)));
        Map<Integer, List<Slot>> slotsByGpu = GpuStage.byGpu(slots);
        List<CudaDevice> gpus = slotsByGpu.values().stream().map(t -> t.getFirst().device()).toList();
        CudaPassHost[] pass = new CudaPassHost[n];
        boolean ok = false;
        // Every CUDA call on the GPUs' own (platform) threads: the caller may be a virtual thread, whose carrier
        // changes while it waits, and a CUDA context is current on a carrier, not on a virtual thread.
        try (ExecutorService pool = GpuStage.threads(slotsByGpu, "pass")) {
            try {
                long[] setup = new long[n];
                for (int h = 0; h < n; h++) setup[h] = hosts.get(h).stats().phase1Nanos;
                GpuStage.run(pool, slotsByGpu, RUN, "set-up", sl -> {
                    for (CudaDevice other : gpus) sl.device().enablePeerAccess(other);  // false: staged by the driver, still correct
                    pass[sl.index()] = new CudaPassHost(sl.host(), blocks.get(sl.index()), rule);
                });
                for (int h = 0; h < n; h++) setup[h] = hosts.get(h).stats().phase1Nanos - setup[h];
                List<CudaPassHost> members = List.of(pass);
                layers(pool, GpuStage.byGpu(members), members, new PassClock(setup));
                ok = true;
            } finally {
                GpuStage.run(pool, slotsByGpu, RUN, "release", sl -> {
                    if (pass[sl.index()] != null) pass[sl.index()].close();
                });
                if (!ok) for (CudaContextHost h : hosts) h.clear();  // no half-encoded context stays behind
            }
        }
        for (int h = 0; h < n; h++) progress.blockDone(hosts.get(h).name(), blocks.get(h).size(), blocks.get(h).size(), hosts.get(h).stats().tokens);
        return System.nanoTime() - t0;
    }

    /** A host before its {@link CudaPassHost} exists (the set-up and release stages). */
    private record Slot(int index, CudaContextHost host) implements GpuStage.Member {
        @Override
        public boolean idle() {
            return false;
        }
    }

    /** Every layer's three stages; the waits and the bytes passed booked to the hosts. */
    private static void layers(ExecutorService pool, Map<Integer, List<CudaPassHost>> byGpu, List<CudaPassHost> pass, PassClock clock) {
        int n = pass.size();
        DecoderConfig c = pass.getFirst().host().model().config();
        DeviceKv[] own = new DeviceKv[n];
        long[] before = new long[n];
        for (int l = 0; l < c.layers(); l++) {
            int layer = l;
            mark(pass, before);
            GpuStage.run(pool, byGpu, RUN, "(a) layer " + l + " Q/K/V and passing rows", p -> own[pass.indexOf(p)] = p.beginLayer(layer));
            for (int h = 0; h < n; h++) clock.began(h, pass.get(h).host().stats().phase1Nanos - before[h]);
            mark(pass, before);
            GpuStage.run(pool, byGpu, RUN, "(p) layer " + l + " earlier hosts' passing rows", p -> {
                p.earlier().truncate(0);
                for (int j = 0; j < pass.indexOf(p); j++) if (own[j] != null) p.earlier().appendAll(own[j]);
            });
            GpuStage.run(pool, byGpu, RUN, "(b) layer " + l + " attention and FFN", CudaPassHost::endLayer);
            for (int h = 0; h < n; h++) {
                HostStats s = pass.get(h).host().stats();
                s.phase1WaitNanos += clock.ending(h);
                clock.ended(h, s.phase1Nanos - before[h]);
                s.phase1BytesReceived += pass.get(h).earlier().bytes();
                if (own[h] != null) s.phase1BytesSent += own[h].bytes() * (n - 1 - h);
            }
        }
    }

    private static void mark(List<CudaPassHost> pass, long[] nanos) {
        for (int h = 0; h < pass.size(); h++) nanos[h] = pass.get(h).host().stats().phase1Nanos;
    }
}
