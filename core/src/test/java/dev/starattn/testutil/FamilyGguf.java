package dev.starattn.testutil;

import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.format.gguf.GgufWriter;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.model.family.Architecture;
import dev.starattn.tensor.GgmlType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * A family fixture (a Hugging Face directory) written as GGUF the way llama.cpp's converter writes
 * it with {@code --outtype f32}: llama.cpp's architecture name and metadata keys, every tensor f32
 * (llama.cpp would round the activations to bf16 for bf16 matrices), norms
 * with Gemma's 1 added, Llama's Q/K rows permuted to rotate adjacent pairs, Llama 3 RoPE scaling as
 * a {@code rope_freqs} tensor, no output tensor when tied, and the byte-level SPM vocabulary of
 * {@link RandomLlamaModel} (so that llama.cpp loads it; the tests feed token ids).
 */
public final class FamilyGguf {
    private FamilyGguf() {}

    /** llama.cpp's architecture name for a fixture's family. */
    public static String ggufArchitecture(String family) {
        return switch (family) {
            case "llama" -> "llama";
            case "qwen2", "qwen3", "gemma2", "gemma3" -> family;
            default -> throw new IllegalArgumentException(family);
        };
    }

    public static Path write(Path hfDir, Path out) {
        try (LoadedModel m = ModelLoader.load(hfDir)) {
            HfModelDir src = (HfModelDir) m.source();
            DecoderConfig c = m.config();
            Architecture d = c.descriptor();
            String arch = ggufArchitecture(d.family().name());
            boolean permute = arch.equals("llama");   // llama.cpp's llama rotates adjacent pairs; the converter permutes Q/K
            GgufWriter w = new GgufWriter();
            w.put("general.architecture", arch);
            w.put(arch + ".context_length", GgufValueType.UINT32, 4096L);
            w.put(arch + ".embedding_length", GgufValueType.UINT32, (long) c.dim());
            w.put(arch + ".block_count", GgufValueType.UINT32, (long) c.layers());
            w.put(arch + ".feed_forward_length", GgufValueType.UINT32, (long) c.ffnDim());
            w.put(arch + ".attention.head_count", GgufValueType.UINT32, (long) c.heads());
            w.put(arch + ".attention.head_count_kv", GgufValueType.UINT32, (long) c.kvHeads());
            w.put(arch + ".attention.key_length", GgufValueType.UINT32, (long) c.headDim());
            w.put(arch + ".attention.value_length", GgufValueType.UINT32, (long) c.headDim());
            w.put(arch + ".attention.layer_norm_rms_epsilon", d.normEps());
            w.put(arch + ".rope.freq_base", d.fullAttentionRope().base());
            if (d.slidingWindow() > 0) w.put(arch + ".attention.sliding_window", GgufValueType.UINT32, (long) d.slidingWindow());
            if (d.attnLogitSoftcap() > 0) w.put(arch + ".attn_logit_softcapping", d.attnLogitSoftcap());
            if (d.finalLogitSoftcap() > 0) w.put(arch + ".final_logit_softcapping", d.finalLogitSoftcap());
            String ropeType = src.config().path("rope_parameters").path("full_attention").path("rope_type")
                    .asText(src.config().path("rope_parameters").path("rope_type").asText("default"));
            if (ropeType.equals("linear")) {
                w.put(arch + ".rope.scaling.type", "linear");
                w.put(arch + ".rope.scaling.factor", (float) src.config().path("rope_parameters").path("full_attention").path("factor").asDouble());
            }
            float[] scaled = d.fullAttentionRope().invFreq();
            if (ropeType.equals("llama3")) {
                // Llama 3 scaling as llama.cpp's converter stores it: per-frequency divisors of the default frequencies.
                float[] plain = DecoderConfig.defaultInvFreq(d.fullAttentionRope().base(), d.fullAttentionRope().dim());
                float[] f = new float[plain.length];
                for (int i = 0; i < f.length; i++) f[i] = plain[i] / scaled[i];
                w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {f.length}, f32(f));
            }
            for (TensorRef t : src.tensors()) {
                if (t.name().endsWith("rotary_emb.inv_freq")) continue;
                int rows = t.dims().length == 1 ? 1 : t.rows();
                int cols = (int) (t.elements() / rows);
                float[] v = new float[(int) t.elements()];
                var matrix = dev.starattn.tensor.WeightMatrices.of(t.type(), t.data(), rows, cols);
                for (int r = 0; r < rows; r++) matrix.dequantizeRow(r, v, r * cols);
                if (d.family().gemma() && t.name().endsWith("norm.weight")) for (int i = 0; i < v.length; i++) v[i] += 1;
                byte[] data = f32(v);
                if (permute && (t.name().endsWith("attn_q.weight") || t.name().endsWith("attn_k.weight"))) {
                    data = permuteRows(data, rows, cols * Float.BYTES, c.headDim());
                }
                w.addTensor(t.name(), GgmlType.F32, t.dims(), data);
            }
            RandomLlamaModel.putVocabulary(w, c.vocabSize());
            return w.write(out);
        }
    }

    /** Hugging Face's rotate-half Q/K rows to GGUF llama's adjacent pairs, per head: row i -> 2i, row hd/2 + i -> 2i + 1. */
    static byte[] permuteRows(byte[] data, int rows, int rowBytes, int headDim) {
        byte[] out = new byte[data.length];
        for (int h = 0; h < rows / headDim; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                System.arraycopy(data, (h * headDim + i) * rowBytes, out, (h * headDim + 2 * i) * rowBytes, rowBytes);
                System.arraycopy(data, (h * headDim + headDim / 2 + i) * rowBytes, out, (h * headDim + 2 * i + 1) * rowBytes, rowBytes);
            }
        }
        return out;
    }

    private static byte[] f32(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return b.array();
    }
}
