package dev.starattn.model;

import dev.starattn.model.family.RopeSpec;

/**
 * Rotary position embedding for a chunk of tokens at explicit position ids. The cos/sin table
 * is computed once per chunk and shared by all layers and by queries and keys.
 */
public final class Rope {
    private final DecoderConfig config;
    private final RopeSpec spec;
    private final float[] cos;
    private final float[] sin;
    private final int pairs;

    public Rope(DecoderConfig config, int[] positions, int offset, int n) {
        this.config = config;
        this.spec = config.descriptor().fullAttentionRope();
        this.pairs = spec.dim() / 2;
        this.cos = new float[n * pairs];
        this.sin = new float[n * pairs];
        float[] inv = spec.invFreq();
        for (int t = 0; t < n; t++) {
            float p = positions[offset + t];
            for (int i = 0; i < pairs; i++) {
                // The angle in f32 as llama.cpp and PyTorch compute it, then cos/sin in double.
                float angle = p * inv[i];
                cos[t * pairs + i] = (float) Math.cos(angle);
                sin[t * pairs + i] = (float) Math.sin(angle);
            }
        }
    }

    /** Rotates every head of every token row of {@code x} (row stride {@code heads * headDim}) in place. */
    public void apply(float[] x, int n, int heads) {
        int hd = config.headDim();
        int stride = heads * hd;
        int half = spec.dim() / 2;
        boolean neox = spec.halves();
        for (int t = 0; t < n; t++) {
            int cs = t * pairs;
            for (int h = 0; h < heads; h++) {
                int base = t * stride + h * hd;
                for (int i = 0; i < pairs; i++) {
                    int a = neox ? base + i : base + 2 * i;
                    int b = neox ? base + i + half : base + 2 * i + 1;
                    float c = cos[cs + i], s = sin[cs + i];
                    float x0 = x[a], x1 = x[b];
                    x[a] = x0 * c - x1 * s;
                    x[b] = x0 * s + x1 * c;
                }
            }
        }
    }
}
