package dev.starattn.cuda;

import dev.starattn.engine.ContextPipeline;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.List;

/**
 * The GPUs as an {@code InferenceEngine}'s device ({@link ContextPipeline.Factory}): the model's weights uploaded
 * once per GPU (bf16); each encoded context gets fresh {@link CudaContextHost}s dealt round-robin over the GPUs
 * (its KV) and a {@link CudaStarQuery} whose query host, the last, runs phase 2 on its GPU. What one GPU holds
 * beyond the KV (each model's activation scratch) is shared by every context, so one lock orders all GPU work:
 * a phase 1, a phase-2 step, a reset or a release at a time (contexts being decoded at once take turns token by
 * token; a long phase 1 makes the others wait for it).
 */
public final class CudaPipelines implements ContextPipeline.Factory, AutoCloseable {
    private final List<CudaDevice> devices;
    private final List<CudaModel> models;
    private final int prefillChunk;
    private final Object gpuLock = new Object();

    private CudaPipelines(List<CudaDevice> devices, List<CudaModel> models, int prefillChunk) {
        this.devices = devices;
        this.models = models;
        this.prefillChunk = prefillChunk;
    }

    /**
     * Opens {@code gpus} GPUs (0 = every visible one, at most {@code hosts} of them) and uploads {@code model} to each.
     * Throws IllegalArgumentException, in one sentence, when no GPU is visible or fewer than asked for.
     */
    public static CudaPipelines open(DecoderModel model, int gpus, int hosts, int prefillChunk) {
        String why = CudaDevice.unavailableReason();
        if (why != null) throw new IllegalArgumentException("no usable CUDA GPU: " + why);
        int visible = CudaDevice.deviceCount();
        if (gpus < 0 || gpus > visible) {
            throw new IllegalArgumentException("--gpus " + gpus + ": " + visible + " GPU(s) are visible (0 = all of them)");
        }
        if (hosts < 1) throw new IllegalArgumentException("the GPUs need at least one host");
        int n = Math.min(gpus == 0 ? visible : gpus, hosts);
        List<CudaDevice> devices = new ArrayList<>();
        List<CudaModel> models = new ArrayList<>();
        try {
            for (int g = 0; g < n; g++) {
                devices.add(CudaDevice.open(g));
                models.add(new CudaModel(devices.get(g), model));
            }
        } catch (RuntimeException | Error e) {
            for (CudaModel m : models) m.close();
            for (CudaDevice d : devices) d.close();
            throw e;
        }
        return new CudaPipelines(List.copyOf(devices), List.copyOf(models), prefillChunk);
    }

    public List<CudaDevice> devices() {
        return devices;
    }

    @Override
    public String describe() {
        StringBuilder s = new StringBuilder().append(devices.size()).append(" GPU(s):");
        for (CudaDevice d : devices) s.append(" ").append(d.ordinal()).append("=").append(d.name());
        return s.toString();
    }

    /** As many hosts as the strategy uses ({@code options.hostsUsed()}; dense: the query host alone), the query host last. */
    @Override
    public ContextPipeline open(EngineOptions options) {
        int count = options.hostsUsed();
        if (count < 1) throw new IllegalArgumentException("the GPUs need at least one host");
        synchronized (gpuLock) {
            List<CudaContextHost> hosts = newHosts(count);
            try {
                return new Pipeline(hosts, new CudaStarQuery(hosts.subList(0, count - 1), hosts.getLast()));
            } catch (RuntimeException | Error e) {
                for (CudaContextHost h : hosts) h.close();
                throw e;
            }
        }
    }

    /**
     * {@code count} fresh context hosts dealt round-robin over the GPUs, named as the engine names its CPU hosts
     * ({@code host-0..}; the server's per-host metrics use these names). Also for an engine whose query host stays on
     * the CPU ({@code generate --query-host cpu}): not guarded by this object's lock then, so one context at a time.
     */
    public List<CudaContextHost> newHosts(int count) {
        List<CudaContextHost> hosts = new ArrayList<>();
        try {
            for (int h = 0; h < count; h++) hosts.add(new CudaContextHost("host-" + h, models.get(h % models.size()), prefillChunk));
            return hosts;
        } catch (RuntimeException | Error e) {
            for (CudaContextHost h : hosts) h.close();
            throw e;
        }
    }

    /** One context on the GPUs: its hosts' KV and the star query over them. */
    private final class Pipeline implements ContextPipeline {
        private final List<CudaContextHost> hosts;
        private final CudaStarQuery query;
        private boolean closed;

        Pipeline(List<CudaContextHost> hosts, CudaStarQuery query) {
            this.hosts = List.copyOf(hosts);
            this.query = query;
        }

        @Override
        public List<CudaContextHost> hosts() {
            return hosts;
        }

        @Override
        public String layout() {
            return query.layout();
        }

        @Override
        public long encode(int[] context, EngineOptions options, ProgressListener progress) {
            synchronized (gpuLock) {
                requireOpen();
                return query.encode(context, options, progress);
            }
        }

        @Override
        public float[] step(int[] tokens, int pos) {
            synchronized (gpuLock) {
                requireOpen();
                return query.step(tokens, pos);
            }
        }

        @Override
        public void reset() {
            synchronized (gpuLock) {
                if (!closed) query.reset();
            }
        }

        @Override
        public void close() {
            synchronized (gpuLock) {
                if (closed) return;
                closed = true;
                query.close();
                for (CudaContextHost h : hosts) h.close();
            }
        }

        private void requireOpen() {
            if (closed) throw new IllegalStateException("this context was released");
        }
    }

    /** Frees the weights and the GPUs' contexts; release every encoded context first. */
    @Override
    public void close() {
        synchronized (gpuLock) {
            for (CudaModel m : models) m.close();
            for (CudaDevice d : devices) d.close();
        }
    }
}
