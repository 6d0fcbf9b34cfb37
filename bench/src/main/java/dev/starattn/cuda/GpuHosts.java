package dev.starattn.cuda;

import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code hostCount} context hosts ({@code prefix}0, 1, ...) dealt round-robin over this GPU and the next ones (at most
 * one GPU per host), one {@link CudaModel} of {@code cpuModel}'s weights per GPU; closing frees the hosts, the models
 * and the GPUs it opened (not the first, the check's own).
 */
record GpuHosts(List<CudaDevice> devices, List<CudaModel> models, List<CudaContextHost> hosts) implements AutoCloseable {
    static GpuHosts open(CudaDevice first, DecoderModel cpuModel, int hostCount, String prefix) {
        GpuHosts r = new GpuHosts(new ArrayList<>(List.of(first)), new ArrayList<>(), new ArrayList<>());
        try {
            int gpus = Math.min(CudaDevice.deviceCount(), hostCount);
            for (int g = 1; g < gpus; g++) r.devices.add(CudaDevice.open(g));
            for (CudaDevice d : r.devices) r.models.add(new CudaModel(d, cpuModel));
            for (int h = 0; h < hostCount; h++) r.hosts.add(new CudaContextHost(prefix + h, r.models.get(h % gpus), 64));
            return r;
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    int gpus() {
        return devices.size();
    }

    @Override
    public void close() {
        for (CudaContextHost h : hosts) h.close();
        for (CudaModel m : models) m.close();
        for (int g = 1; g < devices.size(); g++) devices.get(g).close();
    }

    /** Per host: rows of KV, phase-1 ms (all runs so far), bytes peer-copied in and out. */
    static String summary(List<CudaContextHost> hosts) {
        StringBuilder b = new StringBuilder();
        for (CudaContextHost h : hosts) {
            b.append(String.format(" %s@%s rows=%d p1=%.1fms in=%d out=%d", h.name(), h.processor(), h.kvTokens(), h.stats().phase1Nanos / 1e6,
                    h.stats().phase1BytesReceived, h.stats().phase1BytesSent));
        }
        return b.toString();
    }
}
