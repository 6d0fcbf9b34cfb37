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
 * {@code --device cuda}: the model's weights go to GPU 0 once (bf16) and {@code hosts - 1} star
 * context hosts run there (phase 1 and phase-2 partials, KV on the GPU); the query host, which holds
 * the last block and runs the query's MLP, stays on the CPU in this version.
 */
record CudaHosts(CudaDevice device, CudaModel model, List<CudaContextHost> hosts) implements AutoCloseable {
    static CudaHosts forDevice(String device, LlamaModel model, EngineOptions options) {
        if (device == null || device.equals("cpu")) return null;
        if (!device.equals("cuda")) throw new IllegalArgumentException("--device takes cpu or cuda, not " + device);
        if (options.mode() != AttentionMode.STAR) throw new IllegalArgumentException("--device cuda runs star attention only; use --attention star");
        if (options.hosts() < 2) throw new IllegalArgumentException("--device cuda needs --hosts 2 or more (the last host, the query host, stays on the CPU)");
        CudaDevice dev = CudaDevice.open(0);
        try {
            CudaModel cm = new CudaModel(dev, model);
            List<CudaContextHost> hosts = new ArrayList<>();
            for (int h = 0; h < options.hosts() - 1; h++) hosts.add(new CudaContextHost("gpu-" + h, cm, options.prefillChunk()));
            return new CudaHosts(dev, cm, hosts);
        } catch (RuntimeException e) {
            dev.close();
            throw e;
        }
    }

    @Override
    public void close() {
        for (CudaContextHost h : hosts) h.close();
        model.close();
        device.close();
    }
}
