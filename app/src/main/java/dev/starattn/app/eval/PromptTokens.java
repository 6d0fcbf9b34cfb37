package dev.starattn.app.eval;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;

/** Tokenizes finished records the way the engine runs them: context and query separately, BOS as the model wants. */
public final class PromptTokens {
    private final LoadedModel model;
    private final EvalTemplate template;

    public PromptTokens(LoadedModel model, EvalTemplate template) {
        this.model = model;
        this.template = template;
    }

    public Prompt prompt(String inputContext, String inputQuery) {
        // Records carry the template's markup (special tokens included): parse it.
        return Prompt.ofMarkedUp(model, inputContext, inputQuery, template.template().prefixHasBos());
    }

    /** Tokens of an answer text that follows the query. */
    public int answerTokens(String answer) {
        return answer.isEmpty() ? 0 : model.tokenizer().encode(answer).length;
    }

    public int count(String text) {
        return model.tokenizer().encode(text).length;
    }

    public EvalTemplate template() {
        return template;
    }

    public LoadedModel model() {
        return model;
    }
}
