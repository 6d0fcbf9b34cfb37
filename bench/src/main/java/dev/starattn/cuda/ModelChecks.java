package dev.starattn.cuda;

import static dev.starattn.cuda.SelfCheckData.argmax;
import static dev.starattn.cuda.SelfCheckData.range;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.Partial;
import dev.starattn.cuda.CudaSelfCheck.Result;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * Whole-model sections of the self-check: the logits of random models of each family (prefill then decode) on the
 * GPU against a dense CPU run, and a Hugging Face directory against the reference logits transformers wrote beside it.
 */
final class ModelChecks {
    private final CudaSelfCheck check;
    private final CudaDevice dev;

    ModelChecks(CudaSelfCheck check) {
        this.check = check;
        this.dev = check.device();
    }

    /** Logits of a dense CPU run (LocalContextHost semantics) against the GPU, prefill then decode. */
    public void model(String label, DecoderModel cpuModel, int promptLen, int decode, int chunk, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(11);
        int total = promptLen + decode;
        int[] tokens = new int[total];
        for (int i = 0; i < total; i++) tokens[i] = rnd.nextInt(c.vocabSize());
        int[] pos = new int[total];
        for (int i = 0; i < total; i++) pos[i] = i;
        KvCache[] cpuKv = new KvCache[c.layers()];
        for (int l = 0; l < c.layers(); l++) cpuKv[l] = new KvCache(c.kvHeads(), c.headDim(), total);
        try (CudaModel gm = new CudaModel(dev, cpuModel)) {
            DeviceKv[] gkv = gm.newCaches(total);
            float[] cl = null, gl = null;
            long t0 = System.nanoTime();
            for (int off = 0; off < promptLen; off += chunk) {
                int n = Math.min(chunk, promptLen - off);
                cl = cpuChunk(cpuModel, tokens, pos, off, n, cpuKv);
            }
            long tc = System.nanoTime() - t0;
            t0 = System.nanoTime();
            for (int off = 0; off < promptLen; off += chunk) {
                int n = Math.min(chunk, promptLen - off);
                gl = gm.forward(tokens, pos, off, n, gkv, off + n == promptLen);
            }
            long tg = System.nanoTime() - t0;
            Result r = check.add("logits prefill " + label, gl, cl, cl.length, tol, String.format("argmax gpu=%d cpu=%d; cpu %.0f ms, gpu %.0f ms",
                    argmax(gl), argmax(cl), tc / 1e6, tg / 1e6));
            for (int i = 0; i < decode; i++) {
                int off = promptLen + i;
                cl = cpuChunk(cpuModel, tokens, pos, off, 1, cpuKv);
                gl = gm.forward(tokens, pos, off, 1, gkv, true);
                check.add("logits decode step " + (i + 1) + " " + label, gl, cl, cl.length, tol, "argmax gpu=" + argmax(gl) + " cpu=" + argmax(cl));
            }
            for (DeviceKv k : gkv) k.close();
        }
    }

    static float[] cpuChunk(DecoderModel m, int[] tokens, int[] pos, int off, int n, KvCache[] kv) {
        DecoderConfig c = m.config();
        float[] x = m.forward(tokens, pos, off, n, (layer, q, k, v, rows, p, po, out) -> {
            kv[layer].append(k, v, 0, rows, p, po);
            Partial part = AttentionKernel.attend(q, rows, Arrays.copyOfRange(p, po, po + rows), c.heads(), kv[layer]);
            System.arraycopy(part.out(), 0, out, 0, rows * c.qDim());
        });
        return m.logits(x, n - 1);
    }

    /** A Hugging Face directory with ref_tokens.txt and ref_logits.f32 (all rows) from transformers. */
    public void huggingFace(Path dir, double tol) throws Exception {
        // No tokenizer.json is needed: the reference is token ids, and the directory loads without one (IdsOnlyTokenizer).
        int[] tokens = Arrays.stream(Files.readString(dir.resolve("ref_tokens.txt")).trim().split("[,\\s]+")).mapToInt(Integer::parseInt).toArray();
        byte[] raw = Files.readAllBytes(dir.resolve("ref_logits.f32"));
        java.nio.FloatBuffer fb = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] ref = new float[fb.remaining()];
        fb.get(ref);
        try (LoadedModel lm = ModelLoader.load(dir)) {
            DecoderConfig c = lm.config();
            int v = c.vocabSize();
            float[] last = Arrays.copyOfRange(ref, (tokens.length - 1) * v, tokens.length * v);
            int[] pos = range(0, tokens.length);
            KvCache[] kv = new KvCache[c.layers()];
            for (int l = 0; l < c.layers(); l++) kv[l] = new KvCache(c.kvHeads(), c.headDim(), tokens.length);
            float[] cl = cpuChunk(lm.model(), tokens, pos, 0, tokens.length, kv);
            check.add("HF transformers vs CPU engine (" + c + ")", cl, last, v, tol, "argmax hf=" + argmax(last) + " cpu=" + argmax(cl));
            try (CudaModel gm = new CudaModel(dev, lm.model())) {
                DeviceKv[] gkv = gm.newCaches(tokens.length);
                float[] gl = gm.forward(tokens, pos, 0, tokens.length, gkv, true);
                check.add("HF transformers vs GPU engine", gl, last, v, tol, "argmax hf=" + argmax(last) + " gpu=" + argmax(gl));
                for (DeviceKv k : gkv) k.close();
            }
        }
    }
}
