package dev.starattn.cuda;

import static dev.starattn.cuda.SelfCheckData.argmax;
import static dev.starattn.cuda.SelfCheckData.range;

import dev.starattn.attention.KvCache;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import java.util.Random;

/** The self-check's "speed" section: prefill of one random model on the CPU and the GPU, timed, logits compared. */
final class SpeedCheck {
    private final CudaSelfCheck check;
    private final CudaDevice dev;

    SpeedCheck(CudaSelfCheck check) {
        this.check = check;
        this.dev = check.device();
    }

    /** Prefill speed, CPU engine against GPU (the GPU timed on its second run, after warm-up). */
    public void speed(DecoderModel cpuModel, int promptLen, int chunk, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(13);
        int[] tokens = new int[promptLen];
        for (int i = 0; i < promptLen; i++) tokens[i] = rnd.nextInt(c.vocabSize());
        int[] pos = range(0, promptLen);
        long t0 = System.nanoTime();
        float[] cl = null;
        KvCache[] cpuKv = new KvCache[c.layers()];
        for (int l = 0; l < c.layers(); l++) cpuKv[l] = new KvCache(c.kvHeads(), c.headDim(), promptLen);
        for (int off = 0; off < promptLen; off += chunk) cl = ModelChecks.cpuChunk(cpuModel, tokens, pos, off, Math.min(chunk, promptLen - off), cpuKv);
        long tc = System.nanoTime() - t0;
        long tu = System.nanoTime();
        try (CudaModel gm = new CudaModel(dev, cpuModel)) {
            tu = System.nanoTime() - tu;
            float[] gl = null;
            long tg = 0;
            for (int rep = 0; rep < 2; rep++) {
                DeviceKv[] gkv = gm.newCaches(promptLen);
                long s0 = System.nanoTime();
                for (int off = 0; off < promptLen; off += chunk) {
                    int n = Math.min(chunk, promptLen - off);
                    gl = gm.forward(tokens, pos, off, n, gkv, off + n == promptLen);
                }
                tg = System.nanoTime() - s0;
                for (DeviceKv k : gkv) k.close();
            }
            double flops = (double) promptLen * c.linearFlopsPerToken();
            check.add("logits prefill " + promptLen + " tokens, " + c, gl, cl, cl.length, tol,
                    String.format("argmax gpu=%d cpu=%d; prefill cpu %.0f ms (%.0f GFLOP/s linear), gpu %.1f ms (%.1f TFLOP/s linear), "
                            + "speedup %.0fx; weight upload %.0f ms",
                            argmax(gl), argmax(cl), tc / 1e6, flops / tc, tg / 1e6, flops / tg / 1e3, (double) tc / tg, tu / 1e6));
        }
    }
}
