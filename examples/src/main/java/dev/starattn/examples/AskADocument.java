package dev.starattn.examples;

// README:begin
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.Prompt;
import dev.starattn.tokenizer.TokenStreamDecoder;
import java.nio.file.Files;
import java.nio.file.Path;

public class AskADocument {
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);                      // e.g. models/starattn-tiny-q8_0.gguf
        String document = Files.readString(Path.of(args[1]));
        String question = args[2];
        try (LoadedModel m = ModelLoader.load(model)) {
            // Star attention: the document cut into blocks over 4 context hosts (in this process).
            InferenceEngine engine = new InferenceEngine(m.model(), EngineOptions.of(Strategies.STAR, 4));
            // The model's own chat template (or none for a base model), cut into context and query.
            Prompt p = Prompt.of(m, m.template(), document, question);
            EncodedContext ctx = engine.encode(p.context(), ProgressListener.NONE);   // phase 1, once per document
            TokenStreamDecoder out = new TokenStreamDecoder(m.tokenizer());
            engine.generate(ctx, p.query(), SamplingOptions.greedy(), 32,              // phase 2, per question
                    m.tokenizer()::isEndOfGeneration, id -> System.out.print(out.feed(id)));
            System.out.println(out.finish());
        }
    }
}
// README:end
