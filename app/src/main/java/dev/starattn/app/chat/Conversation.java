package dev.starattn.app.chat;

import dev.starattn.chat.JinjaChatTemplate;
import dev.starattn.model.ChatPrompt;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import dev.starattn.model.PromptTemplate;
import dev.starattn.tokenizer.ChatTemplate.Message;
import dev.starattn.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A conversation about an optional document, cut for star attention: the context (phase 1) is
 * the template's opening plus the document, encoded once; each turn's query (phase 2) is the rest
 * of the whole conversation rendered by the model's chat template, so earlier turns are kept and
 * the template decides how they look.
 */
final class Conversation {
    /** For a model with no template of its own and no Llama 3 tokens: turns one per line. */
    static final String PLAIN_TEMPLATE = "{% for m in messages %}{% if not loop.first %}\n{% endif %}{{ m.content }}{% endfor %}"
            + "{% if add_generation_prompt %}\n{% endif %}";

    /** The hand-written Llama 3 layout as a template, the fallback for a Llama 3 model that ships none. */
    static final String LLAMA3_TEMPLATE = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
            + "{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

    private final LoadedModel model;
    private final JinjaChatTemplate template;
    private final String system;
    private String document;
    private final List<Message> turns = new ArrayList<>();

    private final java.util.Map<String, Object> vars;

    /** {@code vars}: extra template variables (say {@code enable_thinking}). */
    Conversation(LoadedModel model, String system, java.util.Map<String, Object> vars) {
        this.model = model;
        this.vars = vars;
        this.template = templateOf(model);
        this.system = system;
    }

    static JinjaChatTemplate templateOf(LoadedModel m) {
        PromptTemplate t = m.template();
        if (t.chat() != null) return t.chat();
        Tokenizer tok = m.tokenizer();
        String bos = tok.bosId() >= 0 ? tok.tokenText(tok.bosId()) : null;
        String eos = tok.eosId() >= 0 ? tok.tokenText(tok.eosId()) : null;
        return new JinjaChatTemplate(t == PromptTemplate.LLAMA3 ? LLAMA3_TEMPLATE : PLAIN_TEMPLATE, bos, eos);
    }

    String templateName() {
        return model.template().chat() != null ? "the model's own" : model.template() == PromptTemplate.LLAMA3 ? "llama3 (fallback)" : "plain";
    }

    void setDocument(String text) {
        document = text;
        turns.clear();
    }

    String document() {
        return document;
    }

    void reset() {
        turns.clear();
    }

    void addUser(String text) {
        turns.add(Message.user(text));
    }

    void addAssistant(String text) {
        turns.add(Message.assistant(text));
    }

    /** Forgets an unanswered question (generation failed). */
    void dropLastUser() {
        if (!turns.isEmpty() && turns.getLast().role().equals("user")) turns.removeLast();
    }

    int turnCount() {
        return turns.size();
    }

    /** The prompt cut in two: context text before the document (with special tokens) and the rest. */
    record Cut(int[] context, int[] query) {}

    /** The cut with a placeholder question: its context is what a first question will find encoded. */
    Cut cutForDocument() {
        turns.add(Message.user("?"));
        try {
            return cut();
        } finally {
            turns.removeLast();
        }
    }

    /** Renders the conversation so far (its last message the user's) and tokenizes both sides. */
    Cut cut() {
        List<Message> msgs = new ArrayList<>();
        if (system != null) msgs.add(Message.system(system));
        for (int i = 0; i < turns.size(); i++) {
            Message m = turns.get(i);
            // The document opens the first user message: it is what phase 1 encodes, once.
            msgs.add(i == 0 ? Message.user((document != null ? document + "\n\n" : "") + ChatPrompt.CUT + m.content()) : m);
        }
        Prompt p = ChatPrompt.of(model, template, msgs, true, vars);
        int[] ctx = p.context(), q = p.query();
        if (ctx.length == 0) { // nothing before the question: its first token stands in as the context
            ctx = Arrays.copyOf(q, 1);
            q = Arrays.copyOfRange(q, 1, q.length);
        }
        return new Cut(ctx, q);
    }
}
