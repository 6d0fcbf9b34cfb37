package dev.starattn.app.serve;

import static dev.starattn.app.serve.RequestFields.string;
import static dev.starattn.app.serve.RequestFields.wrongType;

import com.fasterxml.jackson.databind.JsonNode;
import dev.starattn.chat.ChatTemplateException;
import dev.starattn.model.ChatPrompt;
import dev.starattn.model.Prompt;
import dev.starattn.tokenizer.ChatTemplate.Message;
import dev.starattn.model.PromptTemplate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What a completion request runs: a document's context or a context of its own (phase 1), then a
 * query (phase 2). The factories turn a chat's messages or a completion's prompt into these tokens.
 */
record CompletionJob(Document doc, int[] context, int[] query) {

    /** {@code newTokens}: the fewest new tokens the request asks for, for the check before tokenizing. */
    static CompletionJob chat(ServedModel served, TokenBounds bounds, JsonNode body, Document doc, int newTokens) {
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) {
            throw ApiError.badField("messages", "missing_messages", "messages must be a non-empty array of {role, content}");
        }
        List<String> texts = new ArrayList<>();
        long bytes = 0;
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            if (!m.isObject()) throw wrongType("messages[" + i + "]", "an object {role, content}", m);
            if (string(m, "role") == null) throw ApiError.badField("messages[" + i + "].role", "missing_role", "messages[" + i + "] has no role");
            String t = contentText(m.get("content"), i);
            texts.add(t);
            bytes += TokenBounds.utf8Length(t);
        }
        bounds.refuseCertainOverflow(bytes, (doc != null ? doc.contextTokens.length : 0) + newTokens, "the request");
        JsonNode last = messages.get(messages.size() - 1);
        if (!"user".equals(last.path("role").asText())) {
            throw ApiError.badRequest("last_message_not_user", "the last message must be the user's question (role 'user')");
        }
        String query = texts.getLast();
        if (query.isBlank()) throw ApiError.badRequest("empty_query", "the last user message is empty");
        String earlier = String.join("\n\n", texts.subList(0, texts.size() - 1).stream().filter(s -> !s.isBlank()).toList());
        if (earlier.isEmpty() && doc == null) {
            // One message holding document and question: its last paragraph is the question, the rest
            // the context (so that the long part is spread over the hosts, not all run in phase 2).
            String trimmed = query.stripTrailing();
            int cut = trimmed.lastIndexOf("\n\n");
            if (cut > 0 && !trimmed.substring(cut).isBlank()) {
                earlier = trimmed.substring(0, cut);
                query = trimmed.substring(cut + 2).strip();
            }
        }
        var tok = served.model().tokenizer();
        if (doc != null) {
            String q = (earlier.isEmpty() ? "" : earlier + "\n\n") + query;
            return new CompletionJob(doc, null, tok.encodeWithSpecialTokens(q + served.template().suffix()));
        }
        Prompt p = served.template().chat() != null ? conversation(served, messages, texts, earlier, query)
                : Prompt.of(served.model(), served.template(), earlier.isEmpty() ? "" : earlier + "\n\n", query);
        int[] ctx = p.context(), q = p.query();
        if (ctx.length == 0) { // no BOS and nothing before the question: its first token stands in as the context
            ctx = Arrays.copyOf(q, 1);
            q = Arrays.copyOfRange(q, 1, q.length);
            if (q.length == 0) throw ApiError.badRequest("query_too_short", "the question needs at least two tokens");
        }
        return new CompletionJob(null, ctx, q);
    }

    /**
     * The whole conversation through the model's own chat template, cut before the last question:
     * the earlier turns (or, for one message, all but its last paragraph) are the context.
     */
    private static Prompt conversation(ServedModel served, JsonNode messages, List<String> texts, String earlier, String query) {
        List<Message> msgs = new ArrayList<>();
        for (int i = 0; i < texts.size() - 1; i++) msgs.add(new Message(messages.get(i).path("role").asText(), texts.get(i)));
        boolean oneMessage = texts.size() == 1;
        msgs.add(Message.user((oneMessage && !earlier.isEmpty() ? earlier + "\n\n" : "") + ChatPrompt.CUT + query));
        try {
            return ChatPrompt.of(served.model(), served.template().chat(), msgs, true);
        } catch (ChatTemplateException e) {
            throw ApiError.badRequest("chat_template", e.getMessage());
        }
    }

    static CompletionJob completion(ServedModel served, TokenBounds bounds, JsonNode body, Document doc, int newTokens) {
        JsonNode pj = body.get("prompt");
        String prompt = pj == null ? null : pj.isTextual() ? pj.asText() : pj.isArray() && pj.size() == 1 && pj.get(0).isTextual() ? pj.get(0).asText() : null;
        if (prompt == null) throw ApiError.badField("prompt", "invalid_prompt", "prompt must be a string (or an array of one string)");
        if (prompt.isEmpty()) throw ApiError.badField("prompt", "empty_prompt", "the prompt is empty");
        bounds.refuseCertainOverflow(TokenBounds.utf8Length(prompt), (doc != null ? doc.contextTokens.length : 0) + newTokens, "the prompt");
        var tok = served.model().tokenizer();
        if (doc != null) return new CompletionJob(doc, null, tok.encodeWithSpecialTokens(prompt));
        // A plain completion has no question: the prompt's last tokens play the query (phase 2).
        int[] all = Prompt.of(served.model(), PromptTemplate.BASE, prompt, "").context();
        if (all.length < 2) throw ApiError.badRequest("prompt_too_short", "the prompt needs at least two tokens");
        int q = Math.clamp(all.length / 8, 1, 32);
        return new CompletionJob(null, Arrays.copyOf(all, all.length - q), Arrays.copyOfRange(all, all.length - q, all.length));
    }

    private static String contentText(JsonNode c, int message) {
        String name = "messages[" + message + "].content";
        if (c == null || c.isNull()) return "";
        if (c.isTextual()) return c.asText();
        if (c.isArray()) {
            StringBuilder b = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText())) {
                    throw ApiError.badField(name, "unsupported_content", "only text content parts are supported (" + name + ")");
                }
                JsonNode t = part.get("text");
                if (t == null || !t.isTextual()) throw ApiError.badField(name, "invalid_content", "a text part of " + name + " needs \"text\": a string");
                b.append(t.textValue());
            }
            return b.toString();
        }
        throw wrongType(name, "a string or an array of text parts", c);
    }
}
