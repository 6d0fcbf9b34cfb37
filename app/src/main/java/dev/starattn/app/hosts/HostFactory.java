package dev.starattn.app.hosts;

import dev.starattn.app.cli.CudaHosts;
import dev.starattn.cluster.Cluster;
import dev.starattn.cluster.ClusterOptions;
import dev.starattn.cuda.CudaPipelines;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.model.LoadedModel;
import java.util.List;

/**
 * The one place where an engine's hosts come from: this JVM's CPU (in-process hosts, with the block cache), context
 * hosts in other processes (gRPC, {@code --host-addrs}: this process is the query host), or the GPUs (every host
 * there, the query host too, or with {@code --query-host cpu} the context hosts there and the query host here).
 * {@link #engine} makes an engine for any options over what was opened; {@link #close} closes it all.
 */
public final class HostFactory implements AutoCloseable {
    /**
     * Where the hosts run.
     *
     * @param device      cpu or cuda
     * @param queryHostOnGpu with cuda: the query host on a GPU too (false: here, the context hosts on the GPUs)
     * @param hostAddrs   remote context hosts (empty: none)
     * @param gpus        GPUs to use (0: every visible one)
     * @param gpuPrefillChunk the chunk of GPU hosts
     * @param cluster     how to reach remote hosts (null without them)
     * @param blockCache  the CPU hosts' block cache (null: none)
     * @param releaseSessions whether {@link #close} frees the remote hosts' sessions
     */
    public record Spec(String device, boolean queryHostOnGpu, List<String> hostAddrs, int gpus, int gpuPrefillChunk,
                       ClusterOptions cluster, BlockCache blockCache, boolean releaseSessions) {
        public Spec {
            hostAddrs = hostAddrs == null ? List.of() : List.copyOf(hostAddrs);
        }

        /** This JVM's CPU, or with cuda every host on the GPUs. */
        public static Spec local(String device, int gpus, int gpuPrefillChunk, BlockCache blockCache) {
            return new Spec(device, true, List.of(), gpus, gpuPrefillChunk, null, blockCache, false);
        }
    }

    private final LoadedModel model;
    private final Spec spec;
    private final Cluster remote;
    private final CudaPipelines pipelines;
    private final CudaHosts gpuHosts;

    private HostFactory(LoadedModel model, Spec spec, Cluster remote, CudaPipelines pipelines, CudaHosts gpuHosts) {
        this.model = model;
        this.spec = spec;
        this.remote = remote;
        this.pipelines = pipelines;
        this.gpuHosts = gpuHosts;
    }

    /**
     * Opens what {@code spec} names for engines of up to {@code options.hosts()} hosts: connects to the remote hosts,
     * or uploads the model to the GPUs. Throws IllegalArgumentException, in one sentence, for what cannot be opened.
     */
    public static HostFactory open(LoadedModel model, EngineOptions options, Spec spec) {
        if (!spec.hostAddrs().isEmpty()) {
            return new HostFactory(model, spec, Cluster.connect(spec.hostAddrs(), model, spec.cluster()), null, null);
        }
        if (CudaHosts.check(spec.device())) {
            if (spec.queryHostOnGpu()) {
                return new HostFactory(model, spec, null,
                        CudaHosts.pipelines(spec.device(), model.model(), options, spec.gpus(), spec.gpuPrefillChunk()), null);
            }
            return new HostFactory(model, spec, null, null,
                    CudaHosts.forDevice(spec.device(), model.model(), options, spec.gpus(), spec.gpuPrefillChunk()));
        }
        return new HostFactory(model, spec, null, null, null);
    }

    /** An engine with {@code options} over the hosts opened (with GPU context hosts: the options they were opened for). */
    public InferenceEngine engine(EngineOptions options) {
        if (remote != null) return new InferenceEngine(model.model(), options, remote.hosts());
        if (pipelines != null) return new InferenceEngine(model.model(), options).withPipelines(pipelines);
        if (gpuHosts != null) return new InferenceEngine(model.model(), options, gpuHosts.hosts());
        return new InferenceEngine(model.model(), options).withBlockCache(spec.blockCache());
    }

    /** The remote hosts' cluster, or null. */
    public Cluster remote() {
        return remote;
    }

    /** The GPU pipelines (every host on the GPUs), or null. */
    public CudaPipelines pipelines() {
        return pipelines;
    }

    /** The GPUs holding the context hosts when the query host stays here, or 0. */
    public int contextHostGpus() {
        return gpuHosts == null ? 0 : gpuHosts.gpus().devices().size();
    }

    /** Frees what was opened (release the contexts encoded on GPU pipelines first); remote sessions as the spec says. */
    @Override
    public void close() {
        try {
            if (gpuHosts != null) gpuHosts.close();
            if (pipelines != null) pipelines.close();
        } finally {
            if (remote != null) {
                // Anonymous sessions are freed; a named session stays on the hosts (until released or its TTL).
                if (spec.releaseSessions()) remote.releaseSessions(true);
                remote.close();
            }
        }
    }
}
