package dev.starattn.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.Prompt;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's library example, run: load, encode once, ask twice, stream tokens. */
class LibraryApiTest {
    @TempDir
    Path tmp;

    @Test
    void readmeExampleRunsAndAContextServesSeveralQueries() {
        Path file = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(3)
                .write(tmp.resolve("m.gguf"));
        String document = "the quick brown fox jumps over the lazy dog ".repeat(30);
        try (LoadedModel m = ModelLoader.load(file)) {
            InferenceEngine engine = new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.STAR, 4));
            Prompt p = Prompt.of(m, m.template(), document, "what jumps?");
            EncodedContext ctx = engine.encode(p.context(), ProgressListener.NONE);
            TokenStreamDecoder out = new TokenStreamDecoder(m.tokenizer());
            StringBuilder text = new StringBuilder();
            List<Integer> streamed = new ArrayList<>();
            GenerationResult first = engine.generate(ctx, p.query(), SamplingOptions.greedy(), 12,
                    t -> false, id -> {
                        streamed.add(id);
                        text.append(out.feed(id));
                    });
            assertEquals(12, first.tokens().length);
            assertArrayEquals(first.tokens(), streamed.stream().mapToInt(Integer::intValue).toArray());
            assertEquals(4, ctx.hosts().size());
            assertTrue(ctx.hosts().stream().allMatch(h -> h.kvTokens() > 0), "every host holds a block");
            // The same encoded context answers again, identically (the first query's KV was dropped).
            GenerationResult second = engine.generate(ctx, p.query(), SamplingOptions.greedy(), 12, t -> false, id -> {});
            assertArrayEquals(first.tokens(), second.tokens());
            assertEquals(p.context()[0], m.tokenizer().bosId(), "BOS starts the context");
        }
    }
}
