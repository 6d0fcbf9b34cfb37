package dev.starattn.model.family;

import java.util.List;
import java.util.Map;

/**
 * A Hugging Face checkpoint that wraps a text model starattn runs together with parts it does not
 * run (Gemma 3 4B and up: {@code Gemma3ForConditionalGeneration}, a SigLIP vision tower and a
 * projector beside the text model). starattn loads the text model and leaves the rest unread.
 *
 * @param modelType          config.json's {@code model_type} for the wrapper
 * @param textConfigField    the object of config.json that holds the text model's config
 * @param textModelType      the text model's {@code model_type} when that object does not state it
 * @param textDefaults       what the text config class gives a field the object omits (transformers
 *                           saves nested configs without the fields that equal the class's defaults)
 * @param textTensorPrefixes tensor name prefixes of the text model, each mapped onto the prefix the text
 *                           family's names use (they differ between transformers versions)
 * @param ignoredPrefixes    tensor name prefixes of the parts starattn does not run
 * @param ignoredParts       those parts in words, for {@code info}
 */
public record MultimodalCheckpoint(String modelType, String textConfigField, String textModelType, Map<String, Object> textDefaults,
                                   Map<String, String> textTensorPrefixes, List<String> ignoredPrefixes, String ignoredParts) {
    public MultimodalCheckpoint {
        textDefaults = Map.copyOf(textDefaults);
        textTensorPrefixes = Map.copyOf(textTensorPrefixes);
        ignoredPrefixes = List.copyOf(ignoredPrefixes);
    }

    /** Whether a tensor belongs to the parts starattn does not run. */
    public boolean ignores(String tensorName) {
        for (String p : ignoredPrefixes) if (tensorName.startsWith(p)) return true;
        return false;
    }

    /** A text-model tensor's name as a checkpoint of the text model alone gives it; other names unchanged. */
    public String textTensorName(String tensorName) {
        for (Map.Entry<String, String> e : textTensorPrefixes.entrySet()) {
            if (tensorName.startsWith(e.getKey())) return e.getValue() + tensorName.substring(e.getKey().length());
        }
        return tensorName;
    }
}
