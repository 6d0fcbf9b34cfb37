package dev.starattn.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * Chat prompt formatting. The rendered prompt contains special-token strings, so tokenize it with
 * {@link Tokenizer#encodeWithSpecialTokens} (it already starts with {@code <|begin_of_text|>}: do
 * not add BOS again).
 *
 * <p>For Star Attention a prompt is cut into a context part (phase 1: the long document) and a
 * query part (phase 2: the question plus the template tail up to the assistant header), see
 * {@link #llama3ContextQuery} and {@link #split}. The two parts are tokenized separately; their
 * concatenated ids can differ from tokenizing the whole prompt at the cut (a merge across it),
 * which is inherent to the method and harmless when the cut is at a newline or special token.
 */
public final class ChatTemplate {
    private ChatTemplate() {}

    /** Marker for the cut point between context and query inside a message. */
    public static final String QUERY_SLOT = "\u0000<<starattn:query>>\u0000";

    /** One chat message; role is "system", "user" or "assistant". */
    public record Message(String role, String content) {
        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }

        public static Message system(String content) {
            return new Message("system", content);
        }

        public static Message user(String content) {
            return new Message("user", content);
        }

        public static Message assistant(String content) {
            return new Message("assistant", content);
        }
    }

    /** A prompt cut into its context (phase 1) and query (phase 2) parts. */
    public record Split(String context, String query) {
        public String whole() {
            return context + query;
        }
    }

    /**
     * Llama 3 instruct format: {@code <|begin_of_text|>} then, per message,
     * {@code <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>}, then the assistant
     * header {@code <|start_header_id|>assistant<|end_header_id|>\n\n} that the model continues.
     */
    public static String llama3(List<Message> messages) {
        StringBuilder sb = new StringBuilder("<|begin_of_text|>");
        for (Message m : messages) {
            sb.append("<|start_header_id|>").append(m.role()).append("<|end_header_id|>\n\n")
                    .append(m.content()).append("<|eot_id|>");
        }
        return sb.append("<|start_header_id|>assistant<|end_header_id|>\n\n").toString();
    }

    /**
     * Cuts a rendered prompt at the (single) {@code slot} marker, removing the marker: text before
     * it is the context part, text after it the query part.
     */
    public static Split split(String rendered, String slot) {
        int i = rendered.indexOf(slot);
        if (i < 0) {
            throw new IllegalArgumentException("the prompt has no task slot marker to split at");
        }
        if (rendered.indexOf(slot, i + slot.length()) >= 0) {
            throw new IllegalArgumentException("the prompt has more than one task slot marker");
        }
        return new Split(rendered.substring(0, i), rendered.substring(i + slot.length()));
    }

    /**
     * The Llama 3 prompt for a long document and a question in one user turn
     * ({@code context + separator + query}), cut so that the context part ends right after the
     * document and separator and the query part holds the question and the template tail.
     *
     * @param system    system prompt, or null for none
     * @param separator text between document and question (e.g. "\n\n"), part of the context side
     */
    public static Split llama3ContextQuery(String system, String context, String separator, String query) {
        List<Message> msgs = new java.util.ArrayList<>();
        if (system != null) msgs.add(Message.system(system));
        msgs.add(Message.user(context + separator + QUERY_SLOT + query));
        return split(llama3(msgs), QUERY_SLOT);
    }
}
