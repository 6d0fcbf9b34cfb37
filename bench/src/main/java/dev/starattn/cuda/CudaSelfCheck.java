package dev.starattn.cuda;

import dev.starattn.config.Switches;
import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.LseMerge;
import dev.starattn.attention.Partial;
import dev.starattn.attention.KvType;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GgmlType;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * GPU against CPU, figure by figure: attention kernel and LSE merge, Q8_0 dequantization, whole-model
 * logits (prefill and decode) on random models, star phase 1 + phase-2 partials of a
 * {@link CudaContextHost} against a {@link LocalContextHost}, and optionally a Hugging Face directory
 * whose reference logits (from transformers) lie beside it. Prints one line per check;
 * {@code main} exits non-zero when a check fails. Used by the GPU tests and on the GPU machine.
 */
public final class CudaSelfCheck {
    public record Result(String name, double maxAbs, double rel, double tol, String note) {
        /** A yes/no check (tokens equal, ...): no figures, only the note. */
        static Result verdict(String name, boolean ok, String note) {
            return new Result(name, 0, ok ? 0 : 1, -1, note);
        }

        boolean ok() {
            return tol < 0 ? rel == 0 : rel <= tol;
        }

        @Override
        public String toString() {
            if (tol < 0) return String.format("%-4s %-58s %s", ok() ? "OK" : "FAIL", name, note);
            return String.format("%-4s %-58s max|d|=%.3e rel=%.3e tol=%.0e %s", ok() ? "OK" : "FAIL", name, maxAbs, rel, tol, note);
        }
    }

    final List<Result> results = new ArrayList<>();
    private final CudaDevice dev;

    public CudaSelfCheck(CudaDevice dev) {
        this.dev = dev;
    }

    public List<Result> results() {
        return results;
    }

    /** The GPU the checks run on (the first of several). */
    CudaDevice device() {
        return dev;
    }

    Result add(String name, float[] gpu, float[] cpu, int n, double tol, String note) {
        double maxAbs = 0, maxRef = 1e-30;
        for (int i = 0; i < n; i++) {
            float a = gpu[i], b = cpu[i];
            if (a == b) continue; // also both -inf
            maxAbs = Math.max(maxAbs, Math.abs((double) a - b));
        }
        for (int i = 0; i < n; i++) if (Float.isFinite(cpu[i])) maxRef = Math.max(maxRef, Math.abs(cpu[i]));
        Result r = new Result(name, maxAbs, Double.isNaN(maxAbs) ? Double.POSITIVE_INFINITY : maxAbs / maxRef, tol, note);
        results.add(r);
        System.out.println(r);
        return r;
    }

    /**
     * {@code rope_q_bf16} (RoPE of the queries, rounded to bf16 on the way for cuDNN) against {@code rope} and
     * {@code f32_to_bf16} run one after the other: the same arithmetic, so both outputs must be bit-equal. Adjacent
     * and NeoX pairs, full and partial rotary dims (the rest of each head only rounded), scattered positions.
     */
    public void ropeQBf16() {
        Random rnd = new Random(23);
        // rows, heads, hd, ropeDim, neox
        int[][] shapes = {{37, 8, 128, 128, 0}, {37, 8, 128, 128, 1}, {5, 4, 128, 64, 0}, {300, 32, 64, 32, 1}, {1, 32, 128, 128, 0}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], hd = s[2], ropeDim = s[3], neox = s[4];
            int n = rows * heads * hd;
            float[] q = randn(rnd, n);
            int[] pos = new int[rows];
            for (int r = 0; r < rows; r++) pos[r] = 7 * r + rnd.nextInt(5000);
            float[] invFreq = new float[ropeDim / 2];
            for (int i = 0; i < invFreq.length; i++) invFreq[i] = (float) Math.pow(500000.0, -2.0 * i / ropeDim);
            long dp = dev.upload(pos), df = dev.upload(invFreq), a = dev.upload(q), b = dev.upload(q);
            long ab = dev.alloc(2L * n), bb = dev.alloc(2L * n);
            dev.launch("rope", dev.gridFor((long) rows * heads * (ropeDim / 2), 256), 1, 1, 256, 0, a, dp, df, rows, heads, hd, ropeDim, neox);
            dev.launch("f32_to_bf16", dev.gridFor(n, 256), 1, 1, 256, 0, a, ab, (long) n);
            dev.launch("rope_q_bf16", dev.gridFor((long) rows * heads * (hd / 2), 256), 1, 1, 256, 0, b, bb, dp, df, rows, heads, hd, ropeDim, neox);
            short[] want = new short[n], got = new short[n];
            dev.copyOut(ab, want, 0, n);
            dev.copyOut(bb, got, 0, n);
            String shape = String.format("rows=%d heads=%d hd=%d ropeDim=%d %s", rows, heads, hd, ropeDim, neox == 1 ? "neox" : "adjacent");
            add("rope_q_bf16 f32  " + shape, dev.download(b, n), dev.download(a, n), n, 0, "(= rope)");
            add("rope_q_bf16 bf16 " + shape, Bf16.toFloats(got), Bf16.toFloats(want), n, 0, "(= rope then f32_to_bf16)");
            for (long p : new long[] {dp, df, a, b, ab, bb}) dev.free(p);
        }
    }

    public void attention() {
        CudaAttention att = new CudaAttention(dev);
        Random rnd = new Random(7);
        int[][] shapes = {{1, 50, 8, 2, 64}, {3, 3000, 8, 2, 128}, {37, 700, 4, 4, 64}, {200, 200, 8, 1, 128}, {1, 20000, 32, 8, 128},
                {64, 4096, 16, 4, 96}};
        for (int[] s : shapes) {
            int rows = s[0], keys = s[1], heads = s[2], kvh = s[3], hd = s[4];
            float[] k = randn(rnd, keys * kvh * hd), v = randn(rnd, keys * kvh * hd), q = randn(rnd, rows * heads * hd);
            // Scattered key positions (star phase 2 style): a shuffled range with gaps; queries after most keys.
            int[] kp = new int[keys];
            for (int i = 0; i < keys; i++) kp[i] = 2 * i + (i % 3);
            int[] qp = new int[rows];
            for (int r = 0; r < rows; r++) qp[r] = rows == keys ? kp[r] : 2 * keys - rows + r;
            KvCache cpu = new KvCache(kvh, hd, keys);
            cpu.append(k, v, 0, keys, kp, 0);
            DeviceKv gpu = new DeviceKv(dev, kvh, hd, keys);
            gpu.append(k, v, keys, kp, 0);
            Partial pc = AttentionKernel.attend(q, rows, qp, heads, cpu);
            Partial pg = att.attend(q, rows, qp, heads, gpu);
            String shape = String.format("rows=%d keys=%d heads=%d/%d hd=%d splits=%d", rows, keys, heads, kvh, hd, att.splits(rows, heads, keys));
            add("attention out  " + shape, pg.out(), pc.out(), pc.out().length, 1e-4, "");
            add("attention lse  " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-5, "pairs gpu=" + pg.pairs() + " cpu=" + pc.pairs());
            // LSE merge over a 3-way partition of the keys (CPU partials, merged on the GPU vs LseMerge).
            List<Partial> parts = new ArrayList<>();
            int a = keys / 3, b = 2 * keys / 3;
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, 0, a));
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, a, b));
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, b, keys));
            Partial mc = LseMerge.merge(parts), mg = att.merge(parts);
            add("lse merge out  " + shape, mg.out(), mc.out(), mc.out().length, 1e-5, "");
            add("merged vs whole " + shape, mg.out(), pc.out(), pc.out().length, 1e-4, "(GPU merge of 3 partials = CPU attention over all keys)");
            gpu.close();
        }
        // Timing: one decode step and one prefill tile set over 32k keys (GPU events), for the record.
        int keys = 32768, heads = 32, kvh = 8, hd = 128;
        float[] k = randn(rnd, keys * kvh * hd), v = randn(rnd, keys * kvh * hd);
        int[] kp = new int[keys];
        for (int i = 0; i < keys; i++) kp[i] = i;
        DeviceKv gpu = new DeviceKv(dev, kvh, hd, keys);
        gpu.append(k, v, keys, kp, 0);
        for (int rows : new int[] {1, 1024}) {
            long dq = dev.upload(randn(rnd, rows * heads * hd));
            int[] qp = new int[rows];
            for (int r = 0; r < rows; r++) qp[r] = keys - rows + r;
            long dp = dev.upload(qp), out = dev.alloc(4L * rows * heads * hd), lse = dev.alloc(4L * rows * heads);
            att.attend(dq, dp, rows, heads, gpu, 0, keys, out, lse);
            float ms = dev.timeMillis(() -> {
                for (int i = 0; i < 5; i++) att.attend(dq, dp, rows, heads, gpu, 0, keys, out, lse);
            }) / 5;
            double flops = 4.0 * rows * heads * hd * keys;
            System.out.printf("TIME attention rows=%d keys=%d heads=%d/%d hd=%d: %.3f ms (%.1f TFLOP/s counting all pairs)%n",
                    rows, keys, heads, kvh, hd, ms, flops / ms / 1e9);
            for (long p : new long[] {dq, dp, out, lse}) dev.free(p);
        }
        gpu.close();
        att.close();
    }

    /**
     * The tensor-core kernel (bf16 cache) against the CPU kernel on bf16-rounded inputs: what is left
     * is P rounded to bf16 before P.V (relative ~2^-9 per term) and the order of f32 sums.
     * Shapes cover causal prefill (rows = keys), star phase 1 (an anchor then a block at a distant
     * position), rows not a multiple of the 64-row tile, scattered positions and key splits.
     */
    public void attentionTensorCores() {
        for (CudaAttention.TcKernel k : CudaAttention.TcKernel.values()) attentionTensorCores(k);
    }

    void attentionTensorCores(CudaAttention.TcKernel tcKernel) {
        CudaAttention att = new CudaAttention(dev, tcKernel);
        Random rnd = new Random(17);
        // rows, keys, heads, kvHeads, hd, kind (0 causal prefill, 1 star phase 1, 2 scattered, queries late)
        int[][] shapes = {{64, 64, 4, 2, 128, 0}, {200, 200, 8, 2, 128, 0}, {1000, 1000, 4, 1, 64, 0}, {333, 333, 8, 8, 64, 0},
                {300, 428, 8, 2, 128, 1}, {16, 20000, 8, 2, 128, 2}, {37, 700, 4, 4, 64, 2}, {130, 4096, 32, 8, 128, 2},
                {1, 5000, 32, 8, 128, 2}, {3, 3000, 8, 2, 96, 2}};  // the last two: decode, the f32 kernel over a bf16 cache
        boolean cudnn = tcKernel == CudaAttention.TcKernel.CUDNN;
        if (cudnn) {
            // cuDNN through the prefill entry: more prefill shapes (3: a later chunk, the queries the last rows of an
            // ascending cache), Llama-3-8B's heads, s_q < s_kv, rows not a multiple of 64, head dims 64 and 32.
            shapes = java.util.stream.Stream.concat(Arrays.stream(shapes), Arrays.stream(new int[][] {
                {256, 1280, 32, 8, 128, 3}, {2048, 2048, 32, 8, 128, 0}, {100, 100, 8, 2, 128, 0}, {640, 4736, 32, 8, 128, 1},
                {64, 1000, 8, 2, 64, 3}, {128, 128, 8, 2, 32, 0}})).toArray(int[][]::new);
        }
        for (int[] s : shapes) {
            int rows = s[0], keys = s[1], heads = s[2], kvh = s[3], hd = s[4], kind = s[5];
            float[] k = Bf16.round(randn(rnd, keys * kvh * hd)), v = Bf16.round(randn(rnd, keys * kvh * hd));
            float[] q = Bf16.round(randn(rnd, rows * heads * hd));
            for (int i = 0; i < q.length; i++) q[i] *= 2f;  // sharper softmax than unit scores
            int[] kp = new int[keys], qp = new int[rows];
            if (kind == 0) {
                kp = range(0, keys);
                qp = range(0, rows);
            } else if (kind == 1) {
                int anchor = keys - rows, base = 5000;
                for (int i = 0; i < anchor; i++) kp[i] = i;
                for (int i = 0; i < rows; i++) kp[anchor + i] = qp[i] = base + i;
            } else if (kind == 3) {
                kp = range(0, keys);
                qp = range(keys - rows, keys);
            } else {
                for (int i = 0; i < keys; i++) kp[i] = 2 * i + (i % 3);
                for (int r = 0; r < rows; r++) qp[r] = 2 * keys - rows + r;
            }
            KvCache cpu = new KvCache(kvh, hd, keys);
            cpu.append(k, v, 0, keys, kp, 0);
            DeviceKv gpu = new DeviceKv(dev, kvh, hd, keys, true);
            gpu.append(k, v, keys, kp, 0);
            Partial pc = AttentionKernel.attend(q, rows, qp, heads, cpu);
            boolean prefill = cudnn && kind != 2;  // the queries are the cache's last rows
            int before = att.cudnnRuns;
            Partial pg = prefill ? att.attendPrefill(q, rows, heads, gpu) : att.attend(q, rows, qp, heads, gpu);
            boolean tc = CudaAttention.tensorCores(rows, gpu);
            String shape = String.format("rows=%d keys=%d heads=%d/%d hd=%d %s splits=%d", rows, keys, heads, kvh, hd,
                    new String[] {"causal", "anchor+block", "scattered", "chunk"}[kind],
                    att.splits(rows, heads, keys, tc ? att.tcKernel(hd).rows : CudaAttention.QT));
            String kernel = att.cudnnRuns > before
                    ? "bf16 kv, cuDNN fused (engine " + dev.cudnn().engine(rows, keys, heads, kvh, hd) + "): "
                    : tc ? "bf16 kv, tensor cores (" + (cudnn ? "CUDNN -> " : "") + att.tcKernel(hd) + "): "
                    : att.decodeVectors(rows, heads, gpu) > 0 ? "bf16 kv, decode kernel: " : "bf16 kv, f32 kernel: ";
            add(kernel + "out " + shape, pg.out(), pc.out(), pc.out().length, 2e-2, "");
            add(kernel + "lse " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-4, "");
            gpu.close();
        }
        att.close();
    }

    /**
     * The decode kernels (flash_decode_tiled_bf16, the default up to head dim 128, and flash_decode_bf16) against the
     * CPU kernel and against flash_attn_fwd on the same bf16
     * cache: 1-8 query vectors per kv head (GQA groups 1, 3, 4, 8; 1-2 rows), head dims 64/128/256, one split
     * and many, keys partly in the queries' causal future, a key range [k0, k1) inside the cache, key counts
     * that leave a block's last step ragged. Then both kernels timed on Llama-3-8B's decode shape.
     */
    public void decodeKernel() {
        CudaAttention att = new CudaAttention(dev);
        Random rnd = new Random(23);
        // rows, keys, heads, kvHeads, hd, future (1: the last rows' positions sit inside the keys' range)
        int[][] shapes = {{1, 1, 8, 8, 128, 0}, {1, 50, 6, 2, 64, 0}, {1, 1000, 32, 8, 128, 1}, {1, 5000, 32, 8, 128, 0},
                {2, 3000, 8, 2, 128, 1}, {1, 777, 16, 2, 256, 0}, {2, 4099, 12, 4, 64, 1}, {1, 70001, 32, 8, 128, 1},
                {1, 20000, 64, 8, 128, 0}, {1, 300, 4, 4, 128, 0}};
        for (int[] s : shapes) {
            int rows = s[0], keys = s[1], heads = s[2], kvh = s[3], hd = s[4];
            boolean future = s[5] == 1;
            float[] k = Bf16.round(randn(rnd, keys * kvh * hd)), v = Bf16.round(randn(rnd, keys * kvh * hd));
            float[] q = Bf16.round(randn(rnd, rows * heads * hd));
            for (int i = 0; i < q.length; i++) q[i] *= 2f;
            int[] kp = new int[keys], qp = new int[rows];
            for (int i = 0; i < keys; i++) kp[i] = 3 * i + (i % 2);
            for (int r = 0; r < rows; r++) qp[r] = future ? kp[keys * (r + 2) / (rows + 3)] : 3 * keys + r;
            KvCache cpu = new KvCache(kvh, hd, keys);
            cpu.append(k, v, 0, keys, kp, 0);
            DeviceKv gpu = new DeviceKv(dev, kvh, hd, keys, true);
            gpu.append(k, v, keys, kp, 0);
            int nq = att.decodeVectors(rows, heads, gpu);
            String shape = String.format("rows=%d keys=%d heads=%d/%d hd=%d%s vectors=%d splits=%d", rows, keys, heads, kvh, hd,
                    future ? " partly future" : "", nq, att.decodeSplits(kvh, keys));
            Partial pc = AttentionKernel.attend(q, rows, qp, heads, cpu);
            Partial pg = att.attend(q, rows, qp, heads, gpu);
            add("decode kernel out " + shape, pg.out(), pc.out(), pc.out().length, 2e-3, nq == 0 ? "(NOT the decode kernel)" : "");
            add("decode kernel lse " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-4, "");
            att.decodeKernel = false;
            Partial po = att.attend(q, rows, qp, heads, gpu);
            att.decodeKernel = true;
            add("decode kernel = flash_attn_fwd " + shape, pg.out(), po.out(), po.out().length, 1e-4, "");
            // The default is the tiled kernel where the head dim allows it: the untiled one, checked the same way.
            att.decodeTiled = false;
            Partial pu = att.attend(q, rows, qp, heads, gpu);
            att.decodeTiled = true;
            add("decode kernel untiled out " + shape, pu.out(), pc.out(), pc.out().length, 2e-3, hd <= 128 ? "" : "(both untiled: hd 256)");
            add("decode kernel untiled lse " + shape, pu.lse(), pc.lse(), pc.lse().length, 1e-4, "");
            if (keys > 100) {  // a key range inside the cache: the device-pointer entry with k0 > 0
                int k0 = keys / 3, k1 = keys - keys / 5;
                Partial rc = AttentionKernel.attend(q, rows, qp, heads, cpu, k0, k1);
                Partial rg = att.attend(q, rows, qp, heads, gpu, k0, k1);
                add("decode kernel keys [" + k0 + ", " + k1 + ") " + shape, rg.out(), rc.out(), rc.out().length, 2e-3, "");
                add("decode kernel lse keys [" + k0 + ", " + k1 + ") " + shape, rg.lse(), rc.lse(), rc.lse().length, 1e-4, "");
            }
            gpu.close();
        }
        // Timing, Llama-3-8B's decode (32/8 heads, hd 128, one row) over a bf16 cache: the decode kernel against
        // flash_attn_fwd, and the bytes read per microsecond (K and V once each).
        for (int keys : new int[] {32768, 131072}) {
            int heads = 32, kvh = 8, hd = 128;
            DeviceKv gpu = new DeviceKv(dev, kvh, hd, keys, true);
            int chunk = 8192;
            for (int c0 = 0; c0 < keys; c0 += chunk) {
                int n = Math.min(chunk, keys - c0);
                gpu.append(randn(rnd, n * kvh * hd), randn(rnd, n * kvh * hd), n, range(c0, c0 + n), 0);
            }
            long dq = dev.upload(randn(rnd, heads * hd)), dp = dev.upload(new int[] {keys}),
                    out = dev.alloc(4L * heads * hd), lse = dev.alloc(4L * heads);
            for (String kernel : new String[] {"flash_decode_tiled_bf16", "flash_decode_bf16", "flash_attn_fwd"}) {
                att.decodeKernel = !kernel.equals("flash_attn_fwd");
                att.decodeTiled = kernel.equals("flash_decode_tiled_bf16");
                att.attend(dq, dp, 1, heads, gpu, 0, keys, out, lse);
                float ms = dev.timeMillis(() -> {
                    for (int i = 0; i < 20; i++) att.attend(dq, dp, 1, heads, gpu, 0, keys, out, lse);
                }) / 20;
                double gb = 2.0 * 2 * keys * kvh * hd / 1e9;
                System.out.printf("TIME decode attention %-23s keys=%d heads=%d/%d hd=%d: %.4f ms (%.0f GB/s of K and V)%n",
                        kernel, keys, heads, kvh, hd, ms, gb / ms * 1e3);
            }
            att.decodeKernel = true;
            att.decodeTiled = true;
            // The merge of the splits alone, lse_merge_wide against lse_merge, and what the host spends to launch one.
            int splits = att.decodeSplits(kvh, keys), rh = heads;
            long parts = dev.upload(randn(rnd, splits * rh * hd)), lses = dev.upload(randn(rnd, splits * rh));
            for (boolean wide : new boolean[] {true, false}) {
                att.wideMerge = wide;
                att.merge(parts, lses, splits, rh, hd, out, lse);
                dev.synchronize();
                long[] enqueue = new long[1];
                float ms = dev.timeMillis(() -> {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 200; i++) att.merge(parts, lses, splits, rh, hd, out, lse);
                    enqueue[0] = System.nanoTime() - t0;
                }) / 200;
                double hostUs = enqueue[0] / 1e3 / 200;
                System.out.printf("TIME merge of %d splits x %d heads, %s: %.4f ms on the GPU, %.1f us of host time to launch it (per call)%n",
                        splits, rh, wide ? "lse_merge_wide" : "lse_merge     ", ms, hostUs);
            }
            att.wideMerge = true;
            for (long p : new long[] {dq, dp, out, lse, parts, lses}) dev.free(p);
            gpu.close();
        }
        att.close();
    }

    public void q8() {
        Random rnd = new Random(3);
        int rows = 64, cols = 256;
        float[] x = randn(rnd, rows * cols);
        byte[] raw = Quantizers.quantize(GgmlType.Q8_0, x);
        WeightMatrix m = WeightMatrices.of(GgmlType.Q8_0, MemorySegment.ofArray(raw), rows, cols);
        float[] cpu = new float[rows * cols];
        for (int r = 0; r < rows; r++) m.dequantizeRow(r, cpu, r * cols);
        long src = dev.alloc(raw.length), dst = dev.alloc(2L * rows * cols);
        dev.copyIn(src, raw, 0, raw.length);
        long blocks = (long) rows * cols / 32;
        dev.launch("dequant_q8_0_bf16", dev.gridFor(blocks, 256), 1, 1, 256, 0, src, dst, blocks);
        short[] h = new short[rows * cols];
        dev.copyOut(dst, h, 0, h.length);
        float[] gpu = Bf16.toFloats(h);
        add("Q8_0 dequant to bf16 (64x256)", gpu, cpu, cpu.length, 8e-3, "(bf16 rounding of the output)");
        dev.free(src);
        dev.free(dst);
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
            Result r = add("logits prefill " + label, gl, cl, cl.length, tol, String.format("argmax gpu=%d cpu=%d; cpu %.0f ms, gpu %.0f ms",
                    argmax(gl), argmax(cl), tc / 1e6, tg / 1e6));
            for (int i = 0; i < decode; i++) {
                int off = promptLen + i;
                cl = cpuChunk(cpuModel, tokens, pos, off, 1, cpuKv);
                gl = gm.forward(tokens, pos, off, 1, gkv, true);
                add("logits decode step " + (i + 1) + " " + label, gl, cl, cl.length, tol, "argmax gpu=" + argmax(gl) + " cpu=" + argmax(cl));
            }
            for (DeviceKv k : gkv) k.close();
        }
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
        for (int off = 0; off < promptLen; off += chunk) cl = cpuChunk(cpuModel, tokens, pos, off, Math.min(chunk, promptLen - off), cpuKv);
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
            add("logits prefill " + promptLen + " tokens, " + c, gl, cl, cl.length, tol,
                    String.format("argmax gpu=%d cpu=%d; prefill cpu %.0f ms (%.0f GFLOP/s linear), gpu %.1f ms (%.1f TFLOP/s linear), "
                            + "speedup %.0fx; weight upload %.0f ms",
                            argmax(gl), argmax(cl), tc / 1e6, flops / tc, tg / 1e6, flops / tg / 1e3, (double) tc / tg, tu / 1e6));
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

    /** Star phase 1 on a GPU host against a CPU host, then phase-2 partials of a query over each. */
    public void star(DecoderModel cpuModel, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(5);
        int block = 96, anchor = 48, nBlocks = 3;
        int[] ctx = new int[block * nBlocks];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        List<BlockTask> tasks = new ArrayList<>();
        int[] anchorTok = Arrays.copyOfRange(ctx, 0, anchor), anchorPos = range(0, anchor);
        for (int b = 1; b < nBlocks; b++) {   // this host holds blocks 2 and 3 (both anchored)
            tasks.add(new BlockTask(b, Arrays.copyOfRange(ctx, b * block, (b + 1) * block), range(b * block, (b + 1) * block), anchorTok, anchorPos));
        }
        ProgressListener quiet = (host, done, total, tokens) -> {};
        LocalContextHost cpu = new LocalContextHost("cpu", cpuModel, 64);
        cpu.encode(EncodeTask.of(tasks), quiet);
        try (CudaModel gm = new CudaModel(dev, cpuModel); CudaContextHost gpu = new CudaContextHost("gpu", gm, 64)) {
            gpu.encode(EncodeTask.of(tasks), quiet);
            for (int layer : new int[] {0, c.layers() - 1}) {
                DeviceKv kv = gpu.cache(layer);
                float[] gk = kv.keysToHost();
                add("star phase-1 keys layer " + layer + " (" + kv.size + " tokens)", gk, cpu.cache(layer).keys(), gk.length, tol, "");
                int rows = 5;
                float[] q = randn(rnd, rows * c.qDim());
                int[] qp = range(ctx.length, ctx.length + rows);
                Partial pc = cpu.attend(layer, q, rows, qp), pg = gpu.attend(layer, q, rows, qp);
                add("star phase-2 partial out layer " + layer, pg.out(), pc.out(), pc.out().length, tol, "");
                add("star phase-2 partial lse layer " + layer, pg.lse(), pc.lse(), pc.lse().length, tol, "pairs " + pg.pairs() + "/" + pc.pairs());
            }
        }
    }

    /**
     * The whole star pipeline through {@link InferenceEngine}: 3 hosts, the first two
     * on the GPU, against 3 CPU hosts; first-token logits and greedy tokens.
     */
    public void engine(DecoderModel cpuModel, int contextLen, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(9);
        int[] ctx = new int[contextLen], query = new int[7];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        var opts = new EngineOptions(Strategies.STAR, 3, 0, -1,
                AnchorPositions.parse("original"), AnchorContent.parse("first"), 64, 0,
                KvType.F32);
        var sampling = new SamplingOptions(0, 1, 0);
        var cpuEngine = new InferenceEngine(cpuModel, opts);
        var rc = cpuEngine.generate(cpuEngine.encode(ctx, ProgressListener.NONE), query, sampling, 8, t -> false, t -> {});
        try (CudaModel gm = new CudaModel(dev, cpuModel);
             CudaContextHost h0 = new CudaContextHost("gpu-0", gm, 64); CudaContextHost h1 = new CudaContextHost("gpu-1", gm, 64)) {
            var gpuEngine = new InferenceEngine(cpuModel, opts, List.of(h0, h1));
            var rg = gpuEngine.generate(gpuEngine.encode(ctx, ProgressListener.NONE), query, sampling, 8, t -> false, t -> {});
            add("engine star 3 hosts (2 GPU + CPU query host) first logits, ctx=" + contextLen, rg.firstLogits(), rc.firstLogits(),
                    rc.firstLogits().length, tol, "greedy tokens gpu=" + Arrays.toString(rg.tokens()) + " cpu=" + Arrays.toString(rc.tokens())
                            + String.format("; phase1 gpu-hosts %.0f ms vs cpu %.0f ms", rg.phase1Nanos() / 1e6, rc.phase1Nanos() / 1e6));
        }
    }

    /**
     * Star with the query host on a GPU ({@link CudaStarQuery}): 3 context hosts, the last the query host, dealt
     * over the visible GPUs (host h on GPU h % G: all on this one when it is alone, so the pipeline runs without
     * peer copies; with 2 GPUs the middle host's partials cross between them), a query of 9 tokens, 8 greedy
     * tokens. Compared with (a) the same bf16 computation on this GPU without star's merge: the hosts' caches
     * concatenated into one per layer and {@link CudaModel#forward} over it (greedy tokens must be equal, logits
     * within 1e-2), and (b) the CPU engine's star run with in-process f32 hosts: the first logits within
     * {@code tol} and, since bf16 and f32 runs of a random model part at near-ties (GPU-RESULTS.md), each later
     * step teacher-forced with the CPU's tokens, within {@code tol}; the greedy tokens must equal the CPU's or
     * part after the first only at a near tie (the CPU's top-2 gap there below twice the GPU's max |d| at that step).
     * With 2 or more GPUs the star run is repeated without the explicit peer syncs: the same tokens and logits.
     */
    public void starOnGpus(DecoderModel cpuModel, int contextLen, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(19);
        int[] ctx = new int[contextLen], query = new int[9];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        int newTokens = 8, hostCount = 3;
        var opts = new EngineOptions(Strategies.STAR, hostCount, 0, -1, AnchorPositions.parse("original"), AnchorContent.parse("first"),
                64, 0, KvType.F32);
        var greedy = new SamplingOptions(0, 1, 0);
        // The CPU: free-running greedy, then the logits of every step given the CPU's own earlier tokens.
        var cpuEngine = new InferenceEngine(cpuModel, opts);
        var cpuCtx = cpuEngine.encode(ctx, ProgressListener.NONE);
        var rc = cpuEngine.generate(cpuCtx, query, greedy, newTokens, t -> false, t -> {});
        int[] ct = rc.tokens();
        float[][] cpuSteps = teacherForcedLogits(cpuEngine, cpuCtx, query, rc);
        try (GpuHosts onGpus = GpuHosts.open(dev, cpuModel, hostCount, "h")) {
            List<CudaModel> models = onGpus.models();
            List<CudaContextHost> hosts = onGpus.hosts();
            int gpus = onGpus.gpus();
            CudaContextHost queryHost = hosts.getLast();
            List<CudaContextHost> others = hosts.subList(0, hostCount - 1);
            // The GPU star run, then the same steps teacher-forced with the CPU's tokens.
            CudaStarQuery.Result rg;
            float[][] gpuSteps;
            String layout;
            try (CudaStarQuery sq = new CudaStarQuery(others, queryHost, true)) {
                layout = sq.layout();
                System.out.println("star on GPUs: " + layout);
                sq.encode(ctx, opts);
                rg = sq.generate(query, newTokens, t -> false);
                gpuSteps = teacherForcedLogits(sq, ctx.length, query, ct);
            }
            // (a) One cache per layer on this GPU: the hosts' blocks (as phase 1 left them) concatenated, dense forward.
            int[] refTokens = new int[newTokens];
            float[] refFirst;
            CudaModel m0 = models.getFirst();
            List<CudaContextHost> refHosts = new ArrayList<>();
            DeviceKv[] union = null;
            try {
                for (int h = 0; h < hostCount; h++) refHosts.add(new CudaContextHost("ref" + h, m0, 64));
                try (CudaStarQuery phase1 = new CudaStarQuery(refHosts.subList(0, hostCount - 1), refHosts.getLast(), true)) {
                    phase1.encode(ctx, opts);
                }
                union = m0.newCaches(ctx.length + query.length + newTokens);
                for (int l = 0; l < c.layers(); l++) {
                    for (CudaContextHost h : refHosts) union[l].appendRange(h.cache(l), 0, h.cache(l).size());
                }
                int[] seq = CudaStarQuery.concat(query, new int[newTokens]);
                int[] pos = range(ctx.length, ctx.length + seq.length);
                float[] logits = m0.forward(seq, pos, 0, query.length, union, true);
                refFirst = logits;
                for (int i = 0; i < newTokens; i++) {
                    refTokens[i] = argmax(logits);
                    seq[query.length + i] = refTokens[i];
                    if (i < newTokens - 1) logits = m0.forward(seq, pos, query.length + i, 1, union, true);
                }
            } finally {
                if (union != null) for (DeviceKv k : union) k.close();
                for (CudaContextHost h : refHosts) h.close();
            }
            add("star on GPUs: first logits vs one-cache GPU forward, ctx=" + contextLen, rg.firstLogits(), refFirst, refFirst.length, 1e-2,
                    "argmax star=" + argmax(rg.firstLogits()) + " one-cache=" + argmax(refFirst));
            results.add(printed(Result.verdict("star on GPUs: greedy tokens = one-cache GPU forward's", Arrays.equals(rg.tokens(), refTokens),
                    "star=" + Arrays.toString(rg.tokens()) + " one-cache=" + Arrays.toString(refTokens))));
            // generate() dropped the query's KV again (reset), so the teacher-forced first step repeats it exactly.
            add("star on GPUs: first logits again after generate's reset", gpuSteps[0], rg.firstLogits(), rg.firstLogits().length, 1e-6, "");
            // (b) The CPU engine.
            add("star on GPUs: first logits vs CPU engine star (3 in-process hosts)", rg.firstLogits(), rc.firstLogits(), rc.firstLogits().length,
                    tol, "argmax gpu=" + argmax(rg.firstLogits()) + " cpu=" + argmax(rc.firstLogits()));
            int parted = -1;
            double[] stepDiff = new double[ct.length];
            for (int i = 0; i < ct.length; i++) {
                Result r = add("star on GPUs: step " + (i + 1) + " logits, teacher-forced, vs CPU", gpuSteps[i], cpuSteps[i], cpuSteps[i].length,
                        tol, "argmax gpu=" + argmax(gpuSteps[i]) + " cpu=" + argmax(cpuSteps[i]) + String.format(" cpu top-2 gap %.3e", top2Gap(cpuSteps[i])));
                stepDiff[i] = r.maxAbs();
                if (parted < 0 && (i >= rg.tokens().length || rg.tokens()[i] != ct[i])) parted = i;
            }
            greedyTokensVerdict("star on GPUs: greedy tokens vs CPU engine star", rg.tokens(), ct, gpuSteps, cpuSteps, stepDiff, parted);
            // With other GPUs: the same run without the explicit syncs around peer copies (driver ordering only).
            if (gpus > 1) {
                try (CudaStarQuery sq = new CudaStarQuery(others, queryHost, false)) {
                    sq.encode(ctx, opts);
                    CudaStarQuery.Result rn = sq.generate(query, newTokens, t -> false);
                    add("star on GPUs: first logits, peer syncs off vs on", rn.firstLogits(), rg.firstLogits(), rg.firstLogits().length, 1e-5,
                            "tokens off=" + Arrays.toString(rn.tokens()) + " on=" + Arrays.toString(rg.tokens()));
                    results.add(printed(Result.verdict("star on GPUs: greedy tokens, peer syncs off = on", Arrays.equals(rn.tokens(), rg.tokens()), "")));
                }
            }
        }
    }

    /**
     * Decode steps replayed from a CUDA graph (CudaStarQuery's default for one-token steps on one GPU) against the same
     * steps launched one by one: star with 3 hosts on this GPU, a 9-token query, then as many teacher-forced single
     * tokens as take the query host's cache 8 rows past its capacity (it regrows, so the graph is captured again), with
     * at least 16 keys a split (so that every launch splits its keys). Checks: the first run's logits equal the launched
     * steps' within 1e-4 (the same kernels and splits; only cuBLAS might choose otherwise under capture); the graph
     * captured, again after the regrowth, and replayed; a second run after generate's reset replays the graph it has
     * without a capture (within 1e-2 of the launched steps: that graph splits the own cache's keys as its capture did,
     * at more keys, so the same sums come in other chunks); and the hosts' unmerged key splits folded in one merge a
     * layer (the default) against each host's splits merged first (within 1e-2: the same sums in another order).
     */
    public void decodeGraph(DecoderModel cpuModel, String what) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(29);
        int contextLen = 600, hostCount = 3;
        int[] ctx = new int[contextLen], query = new int[9];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        var opts = new EngineOptions(Strategies.STAR, hostCount, 0, -1, AnchorPositions.parse("original"), AnchorContent.parse("first"),
                64, 0, KvType.F32);
        List<CudaContextHost> hosts = new ArrayList<>();
        try (CudaModel m = new CudaModel(dev, cpuModel)) {
            // 16 keys a split at least (the default 256 would give these 200-key caches one split): the hosts' decode
            // launches split their keys, so the graph carries split counts and the single merge folds many partials.
            m.attention().decodeMinKeys = 16;
            for (int h = 0; h < hostCount; h++) hosts.add(new CudaContextHost("g" + h, m, 64));
            try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hostCount - 1), hosts.getLast(), true)) {
                sq.encode(ctx, opts);
                DeviceKv ownKv = hosts.getLast().cache(0);
                int steps = ownKv.capacity - ownKv.size() - query.length + 8;
                int[] tokens = new int[steps + 1];
                for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(c.vocabSize());
                // Graphs first: the cache regrows during this run (a later run finds it grown).
                float[][] graphed = teacherForcedLogits(sq, contextLen, query, tokens);
                int captures = sq.graphCaptures, replays = sq.graphReplays;
                sq.graphs = false;
                float[][] eager = teacherForcedLogits(sq, contextLen, query, tokens);
                sq.graphs = true;
                float[][] again = teacherForcedLogits(sq, contextLen, query, tokens);
                // Each host's key splits merged first, then the hosts (mergeOnce off): the same attention, merged in
                // another order, so equal up to rounding (the bf16 rounding of the output may flip a last bit).
                sq.graphs = false;
                sq.mergeOnce = false;
                float[][] perHost = teacherForcedLogits(sq, contextLen, query, tokens);
                sq.mergeOnce = true;
                sq.graphs = true;
                int agree = 0;
                for (int i = 0; i < eager.length; i++) if (argmax(eager[i]) == argmax(perHost[i])) agree++;
                String counts = String.format("first run: %d captures, %d replays of %d one-token steps; second run: %d captures, %d replays",
                        captures, replays, steps, sq.graphCaptures - captures, sq.graphReplays - replays);
                float[] launched = concatAll(List.of(eager));
                add("decode graph " + what + ": all steps' logits, replayed vs launched one by one", concatAll(List.of(graphed)), launched,
                        launched.length, 1e-4, counts);
                // The graph replayed here is the last one captured: it keeps the own cache's split count of its capture
                // (more keys, more splits), where a launched step picks the count for its keys. The same attention
                // summed in other chunks, so equal up to rounding, as the next comparison.
                add("decode graph " + what + ": all steps' logits, second run vs launched", concatAll(List.of(again)), launched, launched.length,
                        1e-2, "");
                add("decode graph " + what + ": all steps' logits, one merge a layer vs per host then over hosts", launched,
                        concatAll(List.of(perHost)), launched.length, 1e-2, "argmax equal at " + agree + " of " + eager.length + " steps");
                results.add(printed(Result.verdict("decode graph " + what + ": captured (again after the cache regrew) and replayed",
                        captures >= 2 && replays >= steps - captures && sq.graphCaptures == captures
                                && sq.graphReplays - replays == steps, counts)));
            }
        } finally {
            for (CudaContextHost h : hosts) h.close();
        }
    }

    /**
     * Ring phase 1 on GPUs ({@link CudaRing}), basic and zigzag: 3 ring hosts dealt over the visible GPUs (host h on
     * GPU h % G; all three on this GPU when it is alone, so that no peer copy happens; with 2+ GPUs other hosts' KV
     * blocks cross between GPUs), a context of {@code contextLen} random tokens, 9 query tokens, 8 greedy tokens, run two
     * ways: "engine" is {@code InferenceEngine} with its query host on the CPU (holding no context) and the GPU hosts
     * as the ring ({@link CudaContextHost#encode} of a ring share: what {@code generate --device cuda --attention ring} runs);
     * "GPU query host" is {@link CudaStarQuery} with the last host the query host ({@code --query-host gpu}).
     * Checks, per mode and way: every host holds its ring share ({@code RingStrategy.shares})'s positions; the hosts' keys and
     * values of the first and last layer, gathered by position, against the CPU engine's dense KV (f32, within
     * {@code tol}) and the keys against a dense forward on this GPU (the same bf16 kernels without the ring's merge,
     * within 2e-2); ring attention is exact, so phase 2 must give the CPU engine's dense results: first logits within
     * {@code tol}, the later steps teacher-forced with the CPU's tokens within {@code tol}, greedy tokens equal or
     * parting only at a near tie (as in {@link #starOnGpus}). With 2+ GPUs, also that bytes crossed between GPUs.
     */
    public void ringOnGpus(DecoderModel cpuModel, int contextLen, double tol) {
        DecoderConfig c = cpuModel.config();
        Random rnd = new Random(23);
        int[] ctx = new int[contextLen], query = new int[9];
        for (int i = 0; i < ctx.length; i++) ctx[i] = rnd.nextInt(c.vocabSize());
        for (int i = 0; i < query.length; i++) query[i] = rnd.nextInt(c.vocabSize());
        int newTokens = 8, hostCount = 3;
        var greedy = new SamplingOptions(0, 1, 0);
        // The CPU reference: dense (ring is exact), free-running, then each step given the CPU's own earlier tokens.
        var cpuEngine = new InferenceEngine(cpuModel, EngineOptions.of(Strategies.DENSE, 1));
        var cpuCtx = cpuEngine.encode(ctx, ProgressListener.NONE);
        LocalContextHost dense = (LocalContextHost) cpuCtx.queryHost();
        var rc = cpuEngine.generate(cpuCtx, query, greedy, newTokens, t -> false, t -> {});
        int[] ct = rc.tokens();
        float[][] cpuSteps = teacherForcedLogits(cpuEngine, cpuCtx, query, rc);
        try (GpuHosts onGpus = GpuHosts.open(dev, cpuModel, hostCount, "r")) {
            List<CudaModel> models = onGpus.models();
            List<CudaContextHost> hosts = onGpus.hosts();
            int gpus = onGpus.gpus();
            StringBuilder layout = new StringBuilder();
            for (int h = 0; h < hostCount; h++) layout.append(" r").append(h).append("@GPU").append(models.get(h % gpus).device().ordinal());
            System.out.println("ring on GPUs: " + hostCount + " hosts on " + gpus + " GPU(s):" + layout);
            // The same context densely on this GPU, one cache per layer (CudaModel.forward).
            DeviceKv[] gpuDense = models.getFirst().newCaches(ctx.length);
            try {
                models.getFirst().forward(ctx, range(0, ctx.length), 0, ctx.length, gpuDense, false);
                for (boolean zigzag : new boolean[] {false, true}) {
                    String mode = zigzag ? "ring-zigzag" : "ring";
                    EngineOptions opts = EngineOptions.of(zigzag ? Strategies.RING_ZIGZAG : Strategies.RING, hostCount + 1);
                    List<int[]> plan = (zigzag ? Strategies.RING_ZIGZAG : Strategies.RING).shares(ctx.length, hostCount);
                    // Each way on its own: a failure is reported (FAIL ... threw) and the other ways still run.
                    // (1) The engine: the query host on the CPU, the GPU hosts the ring.
                    String viaEngine = "ring on GPUs " + mode + " (engine, CPU query host)";
                    attempt(viaEngine, () -> {
                        long crossedBefore = crossedBytes(hosts);
                        var gpuEngine = new InferenceEngine(cpuModel, opts, hosts);
                        var enc = gpuEngine.encode(ctx, ProgressListener.NONE);
                        System.out.printf("%s: phase 1 %.1f ms;%s%n", viaEngine, enc.phase1Nanos() / 1e6, hostSummary(hosts));
                        ringKv(viaEngine, hosts, plan, dense, gpuDense, tol);
                        if (gpus > 1) {
                            long crossed = crossedBytes(hosts) - crossedBefore;
                            results.add(printed(Result.verdict(viaEngine + ": KV crossed between GPUs", crossed > 0, crossed + " bytes peer-copied")));
                        }
                        var rg = gpuEngine.generate(enc, query, greedy, newTokens, t -> false, t -> {});
                        float[][] gpuSteps = teacherForcedLogits(gpuEngine, enc, query, ct, rg.firstLogits());
                        phase2VsCpu(viaEngine, rg.tokens(), gpuSteps, ct, cpuSteps, tol);
                    });
                    // (2) The query host on a GPU (the last ring host).
                    String viaGpu = "ring on GPUs " + mode + " (GPU query host)";
                    attempt(viaGpu, () -> {
                        try (CudaStarQuery sq = new CudaStarQuery(hosts.subList(0, hostCount - 1), hosts.getLast(), true)) {
                            long wall = sq.encode(ctx, opts);
                            System.out.printf("%s: phase 1 %.1f ms;%s | %s%n", viaGpu, wall / 1e6, hostSummary(hosts), sq.layout());
                            ringKv(viaGpu, hosts, plan, dense, gpuDense, tol);
                            CudaStarQuery.Result r = sq.generate(query, newTokens, t -> false);
                            float[][] steps = teacherForcedLogits(sq, ctx.length, query, ct);
                            add(viaGpu + ": first logits = teacher-forced first step", steps[0], r.firstLogits(), r.firstLogits().length, 1e-6, "");
                            phase2VsCpu(viaGpu, r.tokens(), steps, ct, cpuSteps, tol);
                        }
                    });
                }
            } finally {
                for (DeviceKv k : gpuDense) k.close();
            }
        }
    }

    /** Runs one part of a section; a throw becomes a FAIL line (with its stack trace) and the section goes on. */
    void attempt(String name, Section part) {
        try {
            part.run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            results.add(new Result(name + " threw " + t, Double.NaN, Double.POSITIVE_INFINITY, 0, ""));
            System.out.println("FAIL " + name + ": " + t);
        }
    }

    /** Per host: rows of KV, phase-1 ms (all runs so far), bytes peer-copied in and out. */
    static String hostSummary(List<CudaContextHost> hosts) {
        StringBuilder b = new StringBuilder();
        for (CudaContextHost h : hosts) {
            b.append(String.format(" %s@%s rows=%d p1=%.1fms in=%d out=%d", h.name(), h.processor(), h.kvTokens(), h.stats().phase1Nanos / 1e6,
                    h.stats().phase1BytesReceived, h.stats().phase1BytesSent));
        }
        return b.toString();
    }

    private static long crossedBytes(List<CudaContextHost> hosts) {
        long b = 0;
        for (CudaContextHost h : hosts) b += h.stats().phase1BytesReceived;
        return b;
    }

    /** The ring hosts' KV after phase 1 (first and last layer, gathered by position) against dense KV: CPU (f32) and this GPU (bf16). */
    private void ringKv(String label, List<CudaContextHost> hosts, List<int[]> plan, LocalContextHost cpuDense, DeviceKv[] gpuDense, double tol) {
        int layers = gpuDense.length;
        boolean positionsOk = true;
        StringBuilder sizes = new StringBuilder();
        for (int h = 0; h < hosts.size(); h++) {
            for (int l = 0; l < layers; l++) positionsOk &= Arrays.equals(hosts.get(h).cache(l).positions(), plan.get(h));
            sizes.append(h == 0 ? "" : "+").append(hosts.get(h).kvTokens());
        }
        results.add(printed(Result.verdict(label + ": each host holds its ring share", positionsOk, "rows " + sizes)));
        for (int l : new int[] {0, layers - 1}) {
            List<float[]> gk = new ArrayList<>(), gv = new ArrayList<>(), ck = new ArrayList<>(), cv = new ArrayList<>(), dk = new ArrayList<>();
            float[] denseGpuKeys = gpuDense[l].keysToHost();
            int rowSize = gpuDense[l].rowSize;
            for (int h = 0; h < hosts.size(); h++) {
                DeviceKv kv = hosts.get(h).cache(l);
                gk.add(kv.keysToHost());
                gv.add(kv.valuesToHost());
                int[] p = kv.positions();
                ck.add(rowsAt(cpuDense.cache(l).keys(), p, rowSize));   // dense row r holds position r
                cv.add(rowsAt(cpuDense.cache(l).values(), p, rowSize));
                dk.add(rowsAt(denseGpuKeys, p, rowSize));
            }
            float[] g = concatAll(gk), ref = concatAll(ck);
            add(label + ": keys layer " + l + " vs CPU dense", g, ref, ref.length, tol, "");
            add(label + ": values layer " + l + " vs CPU dense", concatAll(gv), concatAll(cv), ref.length, tol, "");
            add(label + ": keys layer " + l + " vs GPU dense forward", g, concatAll(dk), ref.length, 2e-2, "(same bf16 kernels, no ring merge)");
        }
    }

    /**
     * Phase 2 of a ring run against the CPU engine's dense run: the first logits, the later steps (teacher-forced with
     * the CPU's tokens) as one figure, and the greedy tokens (equal, or parting after the first only at a near tie).
     */
    void phase2VsCpu(String label, int[] gpuTokens, float[][] gpuSteps, int[] cpuTokens, float[][] cpuSteps, double tol) {
        phase2VsCpu(label, "CPU dense", gpuTokens, gpuSteps, cpuTokens, cpuSteps, tol);
    }

    /** As above, against the CPU run named {@code reference}. */
    void phase2VsCpu(String label, String reference, int[] gpuTokens, float[][] gpuSteps, int[] cpuTokens, float[][] cpuSteps, double tol) {
        add(label + ": first logits vs " + reference, gpuSteps[0], cpuSteps[0], cpuSteps[0].length, tol,
                "argmax gpu=" + argmax(gpuSteps[0]) + " cpu=" + argmax(cpuSteps[0]));
        int steps = cpuSteps.length;
        double[] stepDiff = new double[steps];
        int parted = -1;
        for (int i = 0; i < steps; i++) {
            for (int j = 0; j < cpuSteps[i].length; j++) stepDiff[i] = Math.max(stepDiff[i], Math.abs((double) gpuSteps[i][j] - cpuSteps[i][j]));
            if (parted < 0 && (i >= gpuTokens.length || gpuTokens[i] != cpuTokens[i])) parted = i;
        }
        if (steps > 1) {
            float[][] g = Arrays.copyOfRange(gpuSteps, 1, steps), cpu = Arrays.copyOfRange(cpuSteps, 1, steps);
            float[] cc = concatAll(Arrays.asList(cpu));
            add(label + ": steps 2.." + steps + " logits, teacher-forced, vs " + reference, concatAll(Arrays.asList(g)), cc, cc.length, tol, "");
        }
        greedyTokensVerdict(label + ": greedy tokens vs " + reference, gpuTokens, cpuTokens, gpuSteps, cpuSteps, stepDiff, parted);
    }

    /**
     * GPU greedy tokens against the CPU's: equal, or parting (at step {@code parted}) only at a near tie: there the
     * GPU's free-running token is its teacher-forced argmax (the same inputs up to that step) and the CPU's top-2
     * gap is below 2 max|d| of that step's logits (a tie within the bf16/f32 difference).
     */
    private void greedyTokensVerdict(String what, int[] gpuTokens, int[] cpuTokens, float[][] gpuSteps, float[][] cpuSteps,
                                     double[] stepDiff, int parted) {
        int steps = cpuSteps.length;
        boolean equal = Arrays.equals(gpuTokens, cpuTokens);
        boolean inRange = parted >= 0 && parted < steps;
        boolean nearTie = parted > 0 && parted < gpuTokens.length && argmax(gpuSteps[parted]) == gpuTokens[parted]
                && top2Gap(cpuSteps[parted]) < 2 * stepDiff[parted];
        results.add(printed(Result.verdict(what, equal || nearTie,
                "gpu=" + Arrays.toString(gpuTokens) + " cpu=" + Arrays.toString(cpuTokens)
                        + (equal ? "" : String.format("; they part at token %d: CPU top-2 gap %.3e, 2 x GPU max|d| %.3e (%s)", parted + 1,
                        inRange ? top2Gap(cpuSteps[parted]) : Double.NaN, inRange ? 2 * stepDiff[parted] : Double.NaN,
                        nearTie ? "a near tie" : "NOT a near tie, or the first token")))));
    }

    /** Rows {@code p[i]} of a row-major array of rows of {@code rowSize}, in the order of {@code p}. */
    static float[] rowsAt(float[] a, int[] p, int rowSize) {
        float[] r = new float[p.length * rowSize];
        for (int i = 0; i < p.length; i++) System.arraycopy(a, p[i] * rowSize, r, i * rowSize, rowSize);
        return r;
    }

    static float[] concatAll(List<float[]> parts) {
        int n = 0;
        for (float[] a : parts) n += a.length;
        float[] r = new float[n];
        int off = 0;
        for (float[] a : parts) {
            System.arraycopy(a, 0, r, off, a.length);
            off += a.length;
        }
        return r;
    }

    static Result printed(Result r) {
        System.out.println(r);
        return r;
    }

    /** The largest logit minus the second largest. */
    static double top2Gap(float[] x) {
        float a = Float.NEGATIVE_INFINITY, b = Float.NEGATIVE_INFINITY;
        for (float v : x) {
            if (v > a) {
                b = a;
                a = v;
            } else if (v > b) {
                b = v;
            }
        }
        return (double) a - b;
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
            add("HF transformers vs CPU engine (" + c + ")", cl, last, v, tol, "argmax hf=" + argmax(last) + " cpu=" + argmax(cl));
            try (CudaModel gm = new CudaModel(dev, lm.model())) {
                DeviceKv[] gkv = gm.newCaches(tokens.length);
                float[] gl = gm.forward(tokens, pos, 0, tokens.length, gkv, true);
                add("HF transformers vs GPU engine", gl, last, v, tol, "argmax hf=" + argmax(last) + " gpu=" + argmax(gl));
                for (DeviceKv k : gkv) k.close();
            }
        }
    }

    static int[] range(int a, int b) {
        int[] r = new int[b - a];
        for (int i = 0; i < r.length; i++) r[i] = a + i;
        return r;
    }

    static int argmax(float[] x) {
        int b = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
        return b;
    }

    static float[] randn(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Random GGUF models (F32 weights, so only the GPU's bf16 differs), written to {@code dir}. */
    public static LoadedModel randomModel(Path dir, String arch, int dim, int layers, int heads, int kvHeads, int ffn, int vocab,
                                          GgmlType type) {
        Path p = new RandomLlamaModel().arch(arch).dim(dim).layers(layers).heads(heads).kvHeads(kvHeads).ffnDim(ffn).vocab(vocab)
                .contextLength(8192).weightType(type).embeddingType(type).seed(42).name(arch + "-" + dim)
                .write(dir.resolve(arch + "-" + dim + "-" + type + ".gguf"));
        return ModelLoader.load(p);
    }

    interface Section {
        void run() throws Exception;
    }

    /**
     * The CPU's logits at every step of {@code free} (a greedy run of {@code query} on {@code ctx}), each step
     * given the CPU's own earlier tokens: what a GPU run is compared with step by step, so that a bf16
     * near-tie that changes one token does not hide whether the later steps are right.
     */
    static float[][] teacherForcedLogits(InferenceEngine cpu, dev.starattn.engine.EncodedContext ctx, int[] query,
                                         dev.starattn.engine.GenerationResult free) {
        return teacherForcedLogits(cpu, ctx, query, free.tokens(), free.firstLogits());
    }

    /** An engine's logits at every step of {@code tokens} after {@code query}, each step given the earlier tokens. */
    static float[][] teacherForcedLogits(InferenceEngine e, dev.starattn.engine.EncodedContext ctx, int[] query, int[] tokens,
                                         float[] firstLogits) {
        float[][] steps = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            int[] prompt = CudaStarQuery.concat(query, Arrays.copyOf(tokens, i));
            steps[i] = i == 0 ? firstLogits
                    : e.generate(ctx, prompt, new SamplingOptions(0, 1, 0), 1, t -> false, t -> {}).firstLogits();
        }
        return steps;
    }

    /** The GPU query host's logits at every step of {@code tokens} after {@code query} (encoded context of length n), then reset. */
    static float[][] teacherForcedLogits(CudaStarQuery sq, int n, int[] query, int[] tokens) {
        float[][] steps = new float[tokens.length][];
        int pos = n;
        for (int i = 0; i < tokens.length; i++) {
            int[] in = i == 0 ? query : new int[] {tokens[i - 1]};
            steps[i] = sq.step(in, pos);
            pos += in.length;
        }
        sq.reset();
        return steps;
    }

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
    }

    /** -Dstarattn.selfcheck.sections=a,b runs only the named sections (a short device call); default all. */
    private static final java.util.Set<String> ONLY = sectionFilter();

    private static java.util.Set<String> sectionFilter() {
        String p = Switches.selfcheckSections();
        if (p == null || p.isBlank()) return java.util.Set.of();
        java.util.Set<String> r = new java.util.HashSet<>();
        for (String x : p.split(",")) r.add(x.strip());
        return r;
    }

    void section(String name, Section s) {
        if (!ONLY.isEmpty() && !ONLY.contains(name)) return;
        try {
            s.run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            results.add(new Result(name + " threw " + t, Double.NaN, Double.POSITIVE_INFINITY, 0, ""));
            System.out.println("FAIL " + name + ": " + t);
        }
    }

    public void all(Path work, Path hfDir) {
        section("rope q bf16", this::ropeQBf16);
        section("attention", this::attention);
        section("attention tensor cores", this::attentionTensorCores);
        section("decode kernel", this::decodeKernel);
        section("q8", this::q8);
        section("llama F32", () -> {
            try (LoadedModel m = randomModel(work, "llama", 256, 4, 8, 2, 640, 1000, GgmlType.F32)) {
                model("llama dim=256 L=4 h=8/2 (rope norm) F32", m.model(), 150, 3, 64, 5e-2);
                star(m.model(), 5e-2);
                engine(m.model(), 600, 5e-2);
            }
        });
        section("star on GPUs", () -> {
            try (LoadedModel m = randomModel(work, "llama", 256, 4, 8, 2, 640, 1000, GgmlType.F32)) {
                starOnGpus(m.model(), 600, 5e-2);
            }
        });
        section("decode graph", () -> {
            // Head dims 128 and 64 (the tiled decode kernel, 2 and 4 query vectors a kv head).
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                decodeGraph(m.model(), "hd=128");
            }
            try (LoadedModel m = randomModel(work, "llama", 512, 3, 8, 2, 1024, 1000, GgmlType.F32)) {
                decodeGraph(m.model(), "hd=64");
            }
        });
        section("star-pass on GPUs", () -> {
            // Head dim 128 (the tensor-core kernels, cuDNN where it takes the block's prefill), as ring's section.
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                new StarPassGpuCheck(this).run(m.model(), 600, 16, 5e-2);
            }
        });
        section("ring on GPUs", () -> {
            // Head dim 128, so that phase 1's attention runs the tensor-core kernels (WGMMA_X2 on Hopper), as at 8B scale.
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                ringOnGpus(m.model(), 300, 5e-2);
            }
        });
        section("qwen2 F32", () -> {
            try (LoadedModel m = randomModel(work, "qwen2", 512, 3, 8, 4, 1024, 2000, GgmlType.F32)) {
                model("qwen2 dim=512 L=3 h=8/4 (rope neox, qkv bias) F32", m.model(), 300, 2, 128, 5e-2);
            }
        });
        section("llama Q8_0", () -> {
            try (LoadedModel m = randomModel(work, "llama", 512, 2, 4, 4, 1024, 1000, GgmlType.Q8_0)) {
                model("llama dim=512 L=2 h=4/4 hd=128 Q8_0", m.model(), 200, 1, 200, 5e-2);
            }
        });
        section("speed", () -> {
            try (LoadedModel m = randomModel(work, "llama", 2048, 4, 32, 8, 5632, 32000, GgmlType.F32)) {
                speed(m.model(), 1024, 512, 5e-2);
            }
        });
        if (hfDir != null) section("huggingface", () -> huggingFace(hfDir, 5e-2));
    }

    public static void main(String[] args) throws Exception {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        Path work = Files.createTempDirectory("starattn-cuda");
        Path hf = args.length > 0 ? Path.of(args[0]) : null;
        try (CudaDevice dev = CudaDevice.open(0)) {
            long[] mem = dev.memoryInfo();
            System.out.printf("device %s, %d SMs, %.1f GiB free of %.1f GiB%n", dev.name(), dev.multiprocessors(), mem[0] / 1073741824.0, mem[1] / 1073741824.0);
            CudaSelfCheck s = new CudaSelfCheck(dev);
            try {
                s.all(work, hf);
            } finally {
                long failed = s.results.stream().filter(r -> !r.ok()).count();
                System.out.println("SUMMARY " + (s.results.size() - failed) + "/" + s.results.size() + " checks passed");
                if (failed > 0) System.exit(1);
            }
        }
    }
}
