package dev.starattn.model;

import dev.starattn.chat.ChatTemplateException;
import dev.starattn.chat.JinjaChatTemplate;
import dev.starattn.tokenizer.ChatTemplate;
import java.util.List;

/**
 * How a task is wrapped for a model, split at its task slot: {@code prefix} goes before the
 * context (phase 1), {@code suffix} after the query (phase 2). A property of the model: its own
 * chat template where it ships one ({@link #fromChat}, {@code chat} then holds it); else the
 * hand-written Llama 3 template for a model with Llama 3's header tokens; else none (base models,
 * our shipped model).
 */
public record PromptTemplate(String name, String prefix, String suffix, boolean prefixHasBos, JinjaChatTemplate chat) {
    public PromptTemplate(String name, String prefix, String suffix, boolean prefixHasBos) {
        this(name, prefix, suffix, prefixHasBos, null);
    }

    public static final PromptTemplate BASE = new PromptTemplate("base", "", "", false);

    private static final String CONTEXT_MARK = "<<starattn:context>>";
    private static final String QUERY_MARK = "<<starattn:query>>";

    /**
     * The model's own chat template, cut for star attention: one user turn holding the context
     * and then the query, rendered with the generation prompt; {@code prefix} is what comes before
     * the context, {@code suffix} what follows the query. {@link #chat()} keeps the template for
     * whole conversations.
     *
     * @throws ChatTemplateException where the template cannot render one user turn
     */
    public static PromptTemplate fromChat(JinjaChatTemplate t) {
        String r = t.render(List.of(ChatTemplate.Message.user(CONTEXT_MARK + QUERY_MARK)), true);
        int c = r.indexOf(CONTEXT_MARK), q = r.indexOf(QUERY_MARK);
        if (c < 0 || q != c + CONTEXT_MARK.length() || r.indexOf(QUERY_MARK, q + 1) >= 0) {
            throw new ChatTemplateException("the model's chat template does not put a user message's text in the prompt as written");
        }
        String prefix = r.substring(0, c);
        return new PromptTemplate("model", prefix, r.substring(q + QUERY_MARK.length()),
                t.bosToken() != null && !t.bosToken().isEmpty() && prefix.startsWith(t.bosToken()), t);
    }

    public static final PromptTemplate LLAMA3 = new PromptTemplate("llama3",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\n",
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", true);

    public static PromptTemplate named(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "base", "none" -> BASE;
            case "llama3", "llama-3", "chat" -> LLAMA3;
            default -> throw new IllegalArgumentException("unknown template '" + name + "' (use base or llama3)");
        };
    }
}
