package dev.starattn.app.cli;

import dev.starattn.cuda.CudaContextHost;
import dev.starattn.cuda.CudaDevice;
import dev.starattn.cuda.CudaModel;
import dev.starattn.cuda.CudaStarQuery;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --device cuda}: context hosts on the GPUs (star or ring phase 1 and phase-2 partials, KV on the GPU), dealt
 * round-robin over {@code gpus} of them (0 = every visible GPU), the model's weights uploaded once per GPU
 * (bf16). Hosts on different GPUs work at the same time ({@link CudaContextHost#processor()}).
 *
 * <p>With {@code queryOnGpu} ({@code generate --query-host gpu}) all {@code hosts} are on the GPUs, the last one
 * the query host's own block, and phase 2 runs on its GPU ({@link #starQuery()}: partials gathered by peer
 * copies and merged there). Without it, {@code hosts - 1} context hosts are on the GPUs and the query host,
 * which holds the last block and runs the query's model, stays on the CPU ({@code InferenceEngine}); partials
 * come back to it and are merged there.
 *
 * <p>Ring and ring-zigzag ({@code CudaRing}): with the query host on the CPU, the {@code hosts - 1}
 * GPU hosts form the ring and hold the whole context, the query host only the query (as {@code InferenceEngine} runs a
 * ring over hosts outside its process: it calls {@code encodeRing} on each); with {@code queryOnGpu} all {@code hosts}
 * GPU hosts form the ring, the last of them the query host ({@code CudaStarQuery.encode} by the options' mode).
 */
record CudaHosts(List<CudaDevice> devices, List<CudaModel> models, List<CudaContextHost> hosts, boolean queryOnGpu) implements AutoCloseable {
    static CudaHosts forDevice(String device, LlamaModel model, EngineOptions options, int gpus, int prefillChunk, boolean queryOnGpu) {
        if (device == null || device.equals("cpu")) return null;
        if (!device.equals("cuda")) throw new IllegalArgumentException("--device takes cpu or cuda, not " + device);
        if (options.mode() == AttentionMode.DENSE) {
            throw new IllegalArgumentException("--device cuda runs star, ring or ring-zigzag attention, not dense; use --attention star, ring or ring-zigzag");
        }
        if (!queryOnGpu && options.hosts() < 2) {
            throw new IllegalArgumentException("--device cuda --query-host cpu needs --hosts 2 or more (the last host, the query host, stays on the CPU)");
        }
        int visible = CudaDevice.deviceCount();
        if (visible == 0) throw new IllegalArgumentException("--device cuda: no CUDA GPU is visible");
        if (gpus < 0 || gpus > visible) {
            throw new IllegalArgumentException("--gpus " + gpus + ": " + visible + " GPU(s) are visible (0 = all of them)");
        }
        int count = queryOnGpu ? options.hosts() : options.hosts() - 1;
        int n = Math.min(gpus == 0 ? visible : gpus, count);
        List<CudaDevice> devices = new ArrayList<>();
        List<CudaModel> models = new ArrayList<>();
        List<CudaContextHost> hosts = new ArrayList<>();
        try {
            for (int g = 0; g < n; g++) {
                devices.add(CudaDevice.open(g));
                models.add(new CudaModel(devices.get(g), model));
            }
            for (int h = 0; h < count; h++) {
                hosts.add(new CudaContextHost("gpu" + (h % n) + "-" + h, models.get(h % n), prefillChunk));
            }
            return new CudaHosts(devices, models, hosts, queryOnGpu);
        } catch (RuntimeException e) {
            new CudaHosts(devices, models, hosts, queryOnGpu).close();
            throw e;
        }
    }

    /** With the query host on a GPU: the star pipeline over the hosts, the last one the query host's (close it after use). */
    CudaStarQuery starQuery() {
        if (!queryOnGpu) throw new IllegalStateException("the query host is on the CPU");
        return new CudaStarQuery(hosts.subList(0, hosts.size() - 1), hosts.getLast());
    }

    @Override
    public void close() {
        for (CudaContextHost h : hosts) h.close();
        for (CudaModel m : models) m.close();
        for (CudaDevice d : devices) d.close();
    }
}
