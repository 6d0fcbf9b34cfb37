package dev.starattn.model;

import dev.starattn.model.family.Architecture;
import dev.starattn.model.family.RopeSpec;
import java.util.EnumMap;
import java.util.Map;

/**
 * Rotary position embedding for a chunk of tokens at explicit position ids. The cos/sin tables
 * are computed once per chunk for each kind of layer (Gemma 3's local and global layers rotate with
 * different bases) and shared by the layers of that kind and by queries and keys.
 */
public final class Rope {
    private final DecoderConfig config;
    private final Map<Architecture.LayerType, Table> tables = new EnumMap<>(Architecture.LayerType.class);

    private record Table(RopeSpec spec, int pairs, float[] cos, float[] sin) {}

    public Rope(DecoderConfig config, int[] positions, int offset, int n) {
        this.config = config;
        Map<RopeSpec, Table> bySpec = new java.util.IdentityHashMap<>();
        for (Map.Entry<Architecture.LayerType, RopeSpec> e : config.descriptor().rope().entrySet()) {
            tables.put(e.getKey(), bySpec.computeIfAbsent(e.getValue(), s -> table(s, positions, offset, n)));
        }
    }

    private static Table table(RopeSpec spec, int[] positions, int offset, int n) {
        int pairs = spec.dim() / 2;
        float[] cos = new float[n * pairs];
        float[] sin = new float[n * pairs];
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
        return new Table(spec, pairs, cos, sin);
    }

    /**
     * Rotates every head of every token row of {@code x} (row stride {@code heads * headDim}) in place,
     * with the RoPE of layer {@code layer}'s kind.
     */
    public void apply(int layer, float[] x, int n, int heads) {
        Table tb = tables.get(config.descriptor().layerTypes().get(layer));
        int hd = config.headDim();
        int stride = heads * hd;
        int pairs = tb.pairs;
        int half = tb.spec.dim() / 2;
        boolean neox = tb.spec.halves();
        float[] cos = tb.cos, sin = tb.sin;
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
