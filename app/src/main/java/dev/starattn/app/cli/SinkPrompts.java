package dev.starattn.app.cli;

import dev.starattn.app.eval.EvalTemplate;
import dev.starattn.app.eval.PromptTokens;
import dev.starattn.app.eval.SampleBuilder;
import dev.starattn.app.eval.Tasks;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.Prompt;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The token sequence that {@code inspect sinks} measures: a text file's tokens, or a generated needle-in-a-haystack prompt. */
final class SinkPrompts {
    private SinkPrompts() {}

    static int[] tokens(LoadedModel m, Path promptFile, int max) throws IOException {
        int[] ids;
        if (promptFile != null) {
            int[] text = m.tokenizer().encode(Files.readString(promptFile));
            boolean bos = m.tokenizer().addBos() && (text.length == 0 || text[0] != m.tokenizer().bosId());
            ids = new int[text.length + (bos ? 1 : 0)];
            if (bos) ids[0] = m.tokenizer().bosId();
            System.arraycopy(text, 0, ids, bos ? 1 : 0, text.length);
            if (ids.length < 2) throw new IllegalArgumentException("the prompt file " + promptFile + " holds fewer than 2 tokens");
        } else {
            PromptTokens pt = new PromptTokens(m, EvalTemplate.of(m.template()));
            // sized so that the prompt itself (without the answer's generation budget) is about max tokens
            int length = max + Tasks.generationBudget("niah_single_1");
            SampleBuilder.Built b = new SampleBuilder(pt, 1).build("niah_single_1", length, 0);
            Prompt p = pt.prompt(b.sample().inputContext(), b.sample().inputQuery());
            ids = new int[p.context().length + p.query().length];
            System.arraycopy(p.context(), 0, ids, 0, p.context().length);
            System.arraycopy(p.query(), 0, ids, p.context().length, p.query().length);
        }
        return ids.length > max ? Arrays.copyOf(ids, max) : ids;
    }
}
