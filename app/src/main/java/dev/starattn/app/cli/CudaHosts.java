package dev.starattn.app.cli;

import dev.starattn.cuda.CudaContextHost;
import dev.starattn.cuda.CudaDevice;
import dev.starattn.cuda.CudaPipelines;
import dev.starattn.engine.EngineOptions;
import dev.starattn.model.DecoderModel;
import java.util.List;

/**
 * {@code --device cuda}. With the query host on a GPU ({@code --query-host gpu}, the default) every host is on the GPUs
 * and each encoded context is a {@link CudaPipelines} pipeline behind the engine ({@link #pipelines}: phase-2
 * partials gathered to the query host's GPU by peer copies and merged there; dense is the query host alone). With {@code --query-host cpu}
 * ({@link #forDevice}) {@code hosts - 1} context hosts are on the GPUs, dealt round-robin over {@code gpus} of them
 * (0 = every visible GPU), the model's weights uploaded once per GPU (bf16), and the query host, which holds the last
 * block and runs the query's model, stays on the CPU ({@code InferenceEngine}); partials come back to it and are
 * merged there. Hosts on different GPUs work at the same time ({@link CudaContextHost#processor()}).
 *
 * <p>Ring and ring-zigzag ({@code CudaRing}) with the query host on the CPU: the {@code hosts - 1} GPU hosts form the
 * ring and hold the whole context, the query host only the query (as {@code InferenceEngine} runs a ring over hosts
 * outside its process: it sends each its ring share as an {@code EncodeTask}); on the GPU, all {@code hosts} form the ring, the last of
 * them the query host.
 */
public record CudaHosts(CudaPipelines gpus, List<CudaContextHost> hosts) implements AutoCloseable {
    /** The GPUs as the engine's pipelines (the query host on a GPU), or null for {@code --device cpu}. */
    public static CudaPipelines pipelines(String device, DecoderModel model, EngineOptions options, int gpus, int prefillChunk) {
        if (!check(device)) return null;
        try {
            return CudaPipelines.open(model, gpus, options.hosts(), prefillChunk);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device cuda: " + e.getMessage());
        }
    }

    /**
     * Before a model is loaded: refuses a device name other than cpu or cuda and, for cuda, a machine where no GPU
     * can be used (one sentence, before any other output).
     */
    public static void requireUsable(String device) {
        if (device == null || device.equals("cpu")) return;
        if (!device.equals("cuda")) throw new IllegalArgumentException("--device takes cpu or cuda, not " + device);
        String why = CudaDevice.unavailableReason();
        if (why != null) throw new IllegalArgumentException("--device cuda: no usable CUDA GPU: " + why);
    }

    /** Whether {@code device} is cuda (false: cpu); refuses another name. Dense runs as one host, on one GPU. */
    public static boolean check(String device) {
        if (device == null || device.equals("cpu")) return false;
        if (!device.equals("cuda")) throw new IllegalArgumentException("--device takes cpu or cuda, not " + device);
        return true;
    }

    /** {@code --query-host cpu}: the context hosts on the GPUs, for an engine over them; null for {@code --device cpu}. */
    public static CudaHosts forDevice(String device, DecoderModel model, EngineOptions options, int gpus, int prefillChunk) {
        if (!check(device)) return null;
        if (!options.strategy().splitsContext()) {
            throw new IllegalArgumentException("--query-host cpu splits the context over GPU hosts; dense keeps it on one host: use --query-host gpu");
        }
        if (options.hosts() < 2) {
            throw new IllegalArgumentException("--device cuda --query-host cpu needs --hosts 2 or more (the last host, the query host, stays on the CPU)");
        }
        CudaPipelines g = pipelines(device, model, options.withHosts(options.hosts() - 1), gpus, prefillChunk);
        try {
            return new CudaHosts(g, g.newHosts(options.hosts() - 1));
        } catch (RuntimeException e) {
            g.close();
            throw e;
        }
    }

    List<CudaDevice> devices() {
        return gpus.devices();
    }

    @Override
    public void close() {
        for (CudaContextHost h : hosts) h.close();
        gpus.close();
    }
}
