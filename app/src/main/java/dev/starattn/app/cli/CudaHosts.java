package dev.starattn.app.cli;

import dev.starattn.cuda.CudaContextHost;
import dev.starattn.cuda.CudaDevice;
import dev.starattn.cuda.CudaModel;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.model.LlamaModel;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --device cuda}: {@code hosts - 1} star context hosts on the GPUs (phase 1 and phase-2
 * partials, KV on the GPU), dealt round-robin over {@code gpus} of them (0 = every visible GPU),
 * the model's weights uploaded once per GPU (bf16). Hosts on different GPUs work at the same time
 * ({@link CudaContextHost#processor()}). The query host, which holds the last block and runs the
 * query's MLP, stays on the CPU in this version; partials come back to it and are merged there.
 */
record CudaHosts(List<CudaDevice> devices, List<CudaModel> models, List<CudaContextHost> hosts) implements AutoCloseable {
    static CudaHosts forDevice(String device, LlamaModel model, EngineOptions options, int gpus, int prefillChunk) {
        if (device == null || device.equals("cpu")) return null;
        if (!device.equals("cuda")) throw new IllegalArgumentException("--device takes cpu or cuda, not " + device);
        if (options.mode() != AttentionMode.STAR) throw new IllegalArgumentException("--device cuda runs star attention only; use --attention star");
        if (options.hosts() < 2) throw new IllegalArgumentException("--device cuda needs --hosts 2 or more (the last host, the query host, stays on the CPU)");
        int visible = CudaDevice.deviceCount();
        if (visible == 0) throw new IllegalArgumentException("--device cuda: no CUDA GPU is visible");
        if (gpus < 0 || gpus > visible) {
            throw new IllegalArgumentException("--gpus " + gpus + ": " + visible + " GPU(s) are visible (0 = all of them)");
        }
        int n = Math.min(gpus == 0 ? visible : gpus, options.hosts() - 1);
        List<CudaDevice> devices = new ArrayList<>();
        List<CudaModel> models = new ArrayList<>();
        List<CudaContextHost> hosts = new ArrayList<>();
        try {
            for (int g = 0; g < n; g++) {
                devices.add(CudaDevice.open(g));
                models.add(new CudaModel(devices.get(g), model));
            }
            for (int h = 0; h < options.hosts() - 1; h++) {
                hosts.add(new CudaContextHost("gpu" + (h % n) + "-" + h, models.get(h % n), prefillChunk));
            }
            return new CudaHosts(devices, models, hosts);
        } catch (RuntimeException e) {
            new CudaHosts(devices, models, hosts).close();
            throw e;
        }
    }

    @Override
    public void close() {
        for (CudaContextHost h : hosts) h.close();
        for (CudaModel m : models) m.close();
        for (CudaDevice d : devices) d.close();
    }
}
