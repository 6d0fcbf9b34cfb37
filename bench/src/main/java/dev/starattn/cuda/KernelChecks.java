package dev.starattn.cuda;

import static dev.starattn.cuda.SelfCheckData.randn;
import static dev.starattn.cuda.SelfCheckData.range;

import dev.starattn.attention.AttentionKernel;
import dev.starattn.attention.KvCache;
import dev.starattn.attention.LseMerge;
import dev.starattn.attention.Partial;
import dev.starattn.tensor.GgmlType;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.WeightMatrices;
import dev.starattn.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The self-check's kernel sections, each GPU kernel against its CPU twin on random data: "rope q bf16", "attention"
 * (with the LSE merge), "attention tensor cores", "decode kernel" and "q8" (Q8_0 dequantization).
 */
final class KernelChecks {
    private final CudaSelfCheck check;
    private final CudaDevice dev;

    KernelChecks(CudaSelfCheck check) {
        this.check = check;
        this.dev = check.device();
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
            check.add("rope_q_bf16 f32  " + shape, dev.download(b, n), dev.download(a, n), n, 0, "(= rope)");
            check.add("rope_q_bf16 bf16 " + shape, Bf16.toFloats(got), Bf16.toFloats(want), n, 0, "(= rope then f32_to_bf16)");
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
            check.add("attention out  " + shape, pg.out(), pc.out(), pc.out().length, 1e-4, "");
            check.add("attention lse  " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-5, "pairs gpu=" + pg.pairs() + " cpu=" + pc.pairs());
            // LSE merge over a 3-way partition of the keys (CPU partials, merged on the GPU vs LseMerge).
            List<Partial> parts = new ArrayList<>();
            int a = keys / 3, b = 2 * keys / 3;
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, 0, a));
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, a, b));
            parts.add(AttentionKernel.attend(q, rows, qp, heads, cpu, b, keys));
            Partial mc = LseMerge.merge(parts), mg = att.merge(parts);
            check.add("lse merge out  " + shape, mg.out(), mc.out(), mc.out().length, 1e-5, "");
            check.add("merged vs whole " + shape, mg.out(), pc.out(), pc.out().length, 1e-4, "(GPU merge of 3 partials = CPU attention over all keys)");
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
            check.add(kernel + "out " + shape, pg.out(), pc.out(), pc.out().length, 2e-2, "");
            check.add(kernel + "lse " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-4, "");
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
            check.add("decode kernel out " + shape, pg.out(), pc.out(), pc.out().length, 2e-3, nq == 0 ? "(NOT the decode kernel)" : "");
            check.add("decode kernel lse " + shape, pg.lse(), pc.lse(), pc.lse().length, 1e-4, "");
            att.decodeKernel = false;
            Partial po = att.attend(q, rows, qp, heads, gpu);
            att.decodeKernel = true;
            check.add("decode kernel = flash_attn_fwd " + shape, pg.out(), po.out(), po.out().length, 1e-4, "");
            // The default is the tiled kernel where the head dim allows it: the untiled one, checked the same way.
            att.decodeTiled = false;
            Partial pu = att.attend(q, rows, qp, heads, gpu);
            att.decodeTiled = true;
            check.add("decode kernel untiled out " + shape, pu.out(), pc.out(), pc.out().length, 2e-3, hd <= 128 ? "" : "(both untiled: hd 256)");
            check.add("decode kernel untiled lse " + shape, pu.lse(), pc.lse(), pc.lse().length, 1e-4, "");
            if (keys > 100) {  // a key range inside the cache: the device-pointer entry with k0 > 0
                int k0 = keys / 3, k1 = keys - keys / 5;
                Partial rc = AttentionKernel.attend(q, rows, qp, heads, cpu, k0, k1);
                Partial rg = att.attend(q, rows, qp, heads, gpu, k0, k1);
                check.add("decode kernel keys [" + k0 + ", " + k1 + ") " + shape, rg.out(), rc.out(), rc.out().length, 2e-3, "");
                check.add("decode kernel lse keys [" + k0 + ", " + k1 + ") " + shape, rg.lse(), rc.lse(), rc.lse().length, 1e-4, "");
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
        check.add("Q8_0 dequant to bf16 (64x256)", gpu, cpu, cpu.length, 8e-3, "(bf16 rounding of the output)");
        dev.free(src);
        dev.free(dst);
    }
}
