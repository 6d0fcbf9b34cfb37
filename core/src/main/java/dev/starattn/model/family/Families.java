package dev.starattn.model.family;

import java.util.List;
import java.util.Optional;

/** The model families starattn runs: the one list the loaders consult. Adding a family adds a line here. */
public final class Families {
    private Families() {}

    private static final List<Family> ALL = List.of(
            LlamaFamily.FAMILY,
            MistralFamily.FAMILY,
            Qwen2Family.FAMILY,
            Qwen3Family.FAMILY,
            GemmaFamilies.GEMMA2,
            GemmaFamilies.GEMMA3);

    /** Checkpoints that wrap a family's text model with parts starattn does not run. */
    private static final List<MultimodalCheckpoint> MULTIMODAL = List.of(GemmaFamilies.GEMMA3_MULTIMODAL);

    /** The wrapper a Hugging Face config.json {@code model_type} names (it names no family itself). */
    public static Optional<MultimodalCheckpoint> multimodalForHfModelType(String modelType) {
        return MULTIMODAL.stream().filter(m -> m.modelType().equals(modelType)).findFirst();
    }

    public static List<Family> all() {
        return ALL;
    }

    /** The family a GGUF {@code general.architecture} names. */
    public static Optional<Family> forGgufArchitecture(String architecture) {
        return ALL.stream().filter(f -> f.ggufArchitectures().contains(architecture)).findFirst();
    }

    /** The family a Hugging Face config.json {@code model_type} names. */
    public static Optional<Family> forHfModelType(String modelType) {
        return ALL.stream().filter(f -> f.hfModelTypes().contains(modelType)).findFirst();
    }

    /** The family of that name. */
    public static Family named(String name) {
        return ALL.stream().filter(f -> f.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("starattn has no model family " + name + "; it runs " + names()));
    }

    /** The families' names for a sentence: "llama, mistral and qwen2". */
    public static String names() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < ALL.size(); i++) {
            if (i > 0) b.append(i == ALL.size() - 1 ? " and " : ", ");
            b.append(ALL.get(i).name());
        }
        return b.toString();
    }
}
