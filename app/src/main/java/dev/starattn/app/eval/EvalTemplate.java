package dev.starattn.app.eval;

import dev.starattn.model.PromptTemplate;
import java.util.List;

/** A prompt template with its stop words (the chat template T of the spec, split at its task slot). */
public record EvalTemplate(PromptTemplate template, List<String> stopWords) {
    public static EvalTemplate of(PromptTemplate t) {
        List<String> stops = t.name().equals("llama3") ? List.of("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")
                : t.chat() != null && t.chat().eosToken() != null ? List.of("<|end_of_text|>", t.chat().eosToken())
                : List.of("<|end_of_text|>");
        return new EvalTemplate(t, stops);
    }

    public String prefix() {
        return template.prefix();
    }

    public String suffix() {
        return template.suffix();
    }

    public String name() {
        return template.name();
    }

    /** The text before the first stop word, stripped. */
    public String cut(String generated) {
        int end = generated.length();
        for (String s : stopWords) {
            int i = generated.indexOf(s);
            if (i >= 0 && i < end) end = i;
        }
        return generated.substring(0, end).strip();
    }
}
