package dev.starattn.cuda;

import dev.starattn.model.DecoderWeights;
import dev.starattn.model.family.TensorRole;
import dev.starattn.tensor.Quantizers;
import dev.starattn.tensor.WeightMatrix;
import java.util.IdentityHashMap;
import java.util.Map;

/** A loaded model's weights, uploaded once: matrices dequantized on the CPU to bf16, vectors as f32. */
final class HostWeights implements WeightSource {
    private final CudaDevice dev;
    private final DecoderWeights w;
    private final Map<WeightMatrix, Long> done = new IdentityHashMap<>();  // tied embedding/output upload once

    HostWeights(CudaDevice dev, DecoderWeights w) {
        this.dev = dev;
        this.w = w;
    }

    @Override
    public long matrix(TensorRole name, int layer, int rows, int cols) {
        WeightMatrix m = switch (name) {
            case TOKEN_EMBEDDING -> w.tokenEmbedding;
            case OUTPUT -> w.output;
            case ATTN_Q -> w.layers[layer].wq;
            case ATTN_K -> w.layers[layer].wk;
            case ATTN_V -> w.layers[layer].wv;
            case ATTN_OUTPUT -> w.layers[layer].wo;
            case FFN_GATE -> w.layers[layer].gate;
            case FFN_UP -> w.layers[layer].up;
            case FFN_DOWN -> w.layers[layer].down;
            default -> throw new IllegalArgumentException(name + " is not a matrix");
        };
        return bf16(m);
    }

    @Override
    public long vector(TensorRole name, int layer, int n) {
        float[] v = switch (name) {
            case OUTPUT_NORM -> w.outputNorm;
            case ATTN_NORM -> w.layers[layer].attnNorm;
            case FFN_NORM -> w.layers[layer].ffnNorm;
            case ATTN_Q_BIAS -> w.layers[layer].bq;
            case ATTN_K_BIAS -> w.layers[layer].bk;
            case ATTN_V_BIAS -> w.layers[layer].bv;
            case ATTN_Q_NORM -> w.layers[layer].qNorm;
            case ATTN_K_NORM -> w.layers[layer].kNorm;
            default -> throw new IllegalArgumentException(name + " is not a vector");
        };
        return v == null ? 0 : dev.upload(v);
    }

    /** Uploads a weight matrix as bf16, row strip by row strip (dequantized on the CPU). */
    private long bf16(WeightMatrix m) {
        Long have = done.get(m);
        if (have != null) return have;
        int rows = m.rows(), cols = m.cols();
        long p = dev.alloc(2L * rows * cols);
        int strip = Math.max(1, (1 << 22) / cols);
        float[] f = new float[strip * cols];
        short[] s = new short[strip * cols];
        for (int r0 = 0; r0 < rows; r0 += strip) {
            int n = Math.min(strip, rows - r0);
            for (int r = 0; r < n; r++) m.dequantizeRow(r0 + r, f, r * cols);
            for (int i = 0; i < n * cols; i++) s[i] = Quantizers.toBf16(f[i]);
            dev.copyIn(p + 2L * r0 * cols, s, 0, n * cols);
        }
        done.put(m, p);
        return p;
    }
}
