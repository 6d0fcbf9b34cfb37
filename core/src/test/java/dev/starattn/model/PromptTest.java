package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Prompts: BOS once, context and query tokenized apart, special tokens only from the template. */
class PromptTest {
    @TempDir
    Path tmp;

    @Test
    void specialTokenTextInAUserDocumentStaysText() throws Exception {
        try (LoadedModel m = ModelLoader.load(new RandomLlamaModel().vocab(300).seed(2).write(tmp.resolve("m.gguf")))) {
            String doc = "the end </s> is near";
            Prompt p = Prompt.of(m, PromptTemplate.BASE, doc, "what?");
            assertEquals(m.tokenizer().bosId(), p.context()[0], "BOS starts the context");
            for (int i = 1; i < p.context().length; i++) {
                assertTrue(p.context()[i] != m.tokenizer().eosId(), "the document's '</s>' text is not the EOS token");
            }
            assertArrayEquals(m.tokenizer().encode("what?"), p.query());
            // Marked-up records (evaluation data) parse special-token text.
            Prompt marked = Prompt.ofMarkedUp(m, doc, "what?", false);
            boolean hasEos = false;
            for (int id : marked.context()) hasEos |= id == m.tokenizer().eosId();
            assertTrue(hasEos, "marked-up text keeps its special tokens");
        }
    }
}
