package dev.starattn.model.family;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A family's tensor names: for each {@link TensorRole}, its GGUF name and its Hugging Face name
 * (absent where that format has no such tensor). Per-layer names are a layer prefix, the layer index,
 * a dot and the role's suffix ({@code blk.3.attn_q.weight}, {@code model.layers.3.self_attn.q_proj.weight}).
 * GGUF names are the engine's: a safetensors directory serves its tensors under them.
 */
public final class TensorNames {
    private final String ggufLayerPrefix;
    private final Map<TensorRole, String> gguf;
    private final List<String> hfIgnorableSuffixes;
    private final Map<String, TensorRole> hfGlobal = new HashMap<>();
    private final Map<String, TensorRole> hfPerLayer = new HashMap<>();
    private final Pattern hfLayer;

    /**
     * @param hfIgnorableSuffixes endings of Hugging Face tensors an exporter may save that the model
     *                            does not use (buffers recomputed from the config)
     */
    public TensorNames(String ggufLayerPrefix, Map<TensorRole, String> gguf, String hfLayerPrefix, Map<TensorRole, String> hf,
                       List<String> hfIgnorableSuffixes) {
        for (TensorRole r : TensorRole.values()) {
            if (!gguf.containsKey(r)) throw new IllegalArgumentException("no GGUF name for " + r);
        }
        this.ggufLayerPrefix = ggufLayerPrefix;
        this.gguf = new EnumMap<>(gguf);
        this.hfIgnorableSuffixes = List.copyOf(hfIgnorableSuffixes);
        hf.forEach((r, n) -> (r.perLayer() ? hfPerLayer : hfGlobal).put(n, r));
        this.hfLayer = Pattern.compile(Pattern.quote(hfLayerPrefix) + "(\\d+)\\.(.+)");
    }

    /** The GGUF name of a model-wide tensor. */
    public String gguf(TensorRole role) {
        if (role.perLayer()) throw new IllegalArgumentException(role + " is per layer");
        return gguf.get(role);
    }

    /** The GGUF name of layer {@code layer}'s tensor. */
    public String gguf(TensorRole role, int layer) {
        if (!role.perLayer()) throw new IllegalArgumentException(role + " is not per layer");
        return ggufLayerPrefix + layer + "." + gguf.get(role);
    }

    /** The GGUF name for a Hugging Face tensor name, or the name itself when it has none. */
    public String ggufFromHf(String hfName) {
        TensorRole global = hfGlobal.get(hfName);
        if (global != null) return gguf.get(global);
        Matcher m = hfLayer.matcher(hfName);
        if (m.matches()) {
            TensorRole r = hfPerLayer.get(m.group(2));
            if (r != null) return ggufLayerPrefix + m.group(1) + "." + gguf.get(r);
        }
        return hfName;
    }

    public List<String> hfIgnorableSuffixes() {
        return hfIgnorableSuffixes;
    }
}
