package dev.starattn.model.family;

import java.util.Set;

/** Mistral: Llama's network; a stated sliding window caps the context. */
public final class MistralFamily {
    private MistralFamily() {}

    public static final Family FAMILY = new Family("mistral", Set.of("mistral"), Set.of("mistral"), LlamaFamily.TENSORS,
            false, false, true, 1e-5, 10000, false, false, 0);
}
