package dev.starattn.model;

import dev.starattn.chat.ChatTemplateException;
import dev.starattn.chat.JinjaChatTemplate;
import dev.starattn.tokenizer.ChatTemplate.Message;
import dev.starattn.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A whole conversation rendered by the model's chat template and cut for star attention at
 * {@link #CUT}, which one message's text holds: what comes before is the context (phase 1), what
 * follows the query (phase 2). The template's own markup is tokenized with its special tokens;
 * the messages' texts, found again in the rendered prompt, as plain text, so that a message that
 * contains the text of a special token (say {@code <|im_end|>}) cannot forge a turn. BOS is added
 * only where the template did not write it.
 */
public final class ChatPrompt {
    private ChatPrompt() {}

    /** The cut marker to place in one message's text. */
    public static final String CUT = "<<starattn:cut>>";

    public static Prompt of(LoadedModel m, JinjaChatTemplate template, List<Message> messages, boolean addGenerationPrompt) {
        return of(m, template, messages, addGenerationPrompt, java.util.Map.of());
    }

    /** As {@link #of(LoadedModel, JinjaChatTemplate, List, boolean)}, with template variables such as {@code enable_thinking}. */
    public static Prompt of(LoadedModel m, JinjaChatTemplate template, List<Message> messages, boolean addGenerationPrompt,
                            java.util.Map<String, Object> vars) {
        String r = template.render(messages, addGenerationPrompt, vars);
        int cut = r.indexOf(CUT);
        if (cut < 0 || r.indexOf(CUT, cut + 1) >= 0) {
            throw new ChatTemplateException("the chat template did not keep the message that holds the cut as written");
        }
        // Spans of the rendered text that are message text (plain), in order; the rest is template markup.
        List<int[]> plain = new ArrayList<>();
        int cursor = 0;
        for (Message msg : messages) {
            String c = msg.content();
            int at = c.isEmpty() ? -1 : r.indexOf(c, cursor);
            if (at < 0 && !c.strip().isEmpty()) {
                c = c.strip();
                at = r.indexOf(c, cursor);
            }
            if (at < 0) continue;  // the template rewrote it (say, dropped a reasoning part): left to the markup path
            plain.add(new int[] {at, at + c.length()});
            cursor = at + c.length();
        }
        Tokenizer tok = m.tokenizer();
        int[] ctx = encode(tok, r, 0, cut, plain);
        int[] q = encode(tok, r, cut + CUT.length(), r.length(), plain);
        String bos = template.bosToken();
        boolean templateWroteBos = bos != null && !bos.isEmpty() && r.startsWith(bos);
        if (!templateWroteBos && tok.addBos() && tok.bosId() >= 0) ctx = concat(new int[] {tok.bosId()}, ctx);
        return new Prompt(ctx, q);
    }

    /** Tokenizes {@code r[from, to)}: plain spans as text, the rest with special tokens. */
    private static int[] encode(Tokenizer tok, String r, int from, int to, List<int[]> plain) {
        int[] out = new int[0];
        int i = from;
        for (int[] span : plain) {
            int a = Math.max(span[0], from), b = Math.min(span[1], to);
            if (b <= a) continue;
            // The cut marker inside a plain span is not text of its own.
            if (a > i) out = concat(out, tok.encodeWithSpecialTokens(r.substring(i, a)));
            out = concat(out, tok.encode(r.substring(a, b).replace(CUT, "")));
            i = b;
        }
        if (to > i) out = concat(out, tok.encodeWithSpecialTokens(r.substring(i, to).replace(CUT, "")));
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
