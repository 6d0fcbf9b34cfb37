package dev.starattn.model;

import dev.starattn.tokenizer.Tokenizer;

/**
 * A request's token ids, split as star attention needs them: the context (phase 1) and the
 * query (phase 2, positions continuing after the context). Context and query are tokenized
 * separately, each as a text of its own (a SentencePiece tokenizer gives each its space prefix),
 * as the NVIDIA reference and our evaluation spec do; BOS only before the context.
 */
public record Prompt(int[] context, int[] query) {
    /** Wraps the texts in the model's template, adds BOS where the model wants it, and tokenizes. */
    public static Prompt of(LoadedModel m, PromptTemplate template, String contextText, String queryText) {
        Tokenizer t = m.tokenizer();
        int[] ctx = t.encodeWithSpecialTokens(template.prefix() + contextText);
        if (!template.prefixHasBos() && t.addBos() && t.bosId() >= 0) {
            int[] withBos = new int[ctx.length + 1];
            withBos[0] = t.bosId();
            System.arraycopy(ctx, 0, withBos, 1, ctx.length);
            ctx = withBos;
        }
        int[] q = t.encodeWithSpecialTokens(queryText + template.suffix());
        return new Prompt(ctx, q);
    }
}
