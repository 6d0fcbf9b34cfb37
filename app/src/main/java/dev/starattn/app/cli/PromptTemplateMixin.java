package dev.starattn.app.cli;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;
import picocli.CommandLine.Option;

/** {@code --template}, shared by generate and eval: the prompt template, else the model's own. */
public final class PromptTemplateMixin {
    @Option(names = "--template", description = "Prompt template: base or llama3 (default: the model's own).")
    String template;

    /** The template named by --template, or {@code model}'s own when it is not given. */
    PromptTemplate of(LoadedModel model) {
        return template != null ? PromptTemplate.named(template) : model.template();
    }
}
