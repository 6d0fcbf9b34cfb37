package dev.starattn.app.eval;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Files;
import java.nio.file.Path;

/** A tiny random Llama GGUF with the builder's byte-fallback tokenizer, written once per JVM. */
final class TinyModels {
    private static Path path;

    private TinyModels() {}

    static synchronized Path path() throws Exception {
        if (path == null) {
            Path dir = Files.createTempDirectory("starattn-eval-test");
            dir.toFile().deleteOnExit();
            path = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(600)
                    .contextLength(1 << 16).seed(11).write(dir.resolve("tiny.gguf"));
            path.toFile().deleteOnExit();
        }
        return path;
    }

    static LoadedModel load() throws Exception {
        return ModelLoader.load(path());
    }
}
