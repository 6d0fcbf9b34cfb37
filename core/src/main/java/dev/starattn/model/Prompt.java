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
        // Special tokens come from the template only: a document or question that contains the
        // text of a special token (say "<|eot_id|>") is encoded as ordinary text.
        int[] ctx = concat(template.prefix().isEmpty() ? new int[0] : t.encodeWithSpecialTokens(template.prefix()),
                t.encode(contextText));
        if (!template.prefixHasBos() && t.addBos() && t.bosId() >= 0) ctx = concat(new int[] {t.bosId()}, ctx);
        int[] q = concat(t.encode(queryText),
                template.suffix().isEmpty() ? new int[0] : t.encodeWithSpecialTokens(template.suffix()));
        return new Prompt(ctx, q);
    }

    /**
     * Texts that already carry their template's markup (evaluation records in the reference's
     * format): special-token text in them is parsed as special tokens. BOS is added as
     * {@link #of} would, unless the markup brings its own.
     */
    public static Prompt ofMarkedUp(LoadedModel m, String context, String query, boolean markupHasBos) {
        Tokenizer t = m.tokenizer();
        int[] ctx = t.encodeWithSpecialTokens(context);
        if (!markupHasBos && t.addBos() && t.bosId() >= 0) ctx = concat(new int[] {t.bosId()}, ctx);
        return new Prompt(ctx, t.encodeWithSpecialTokens(query));
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
