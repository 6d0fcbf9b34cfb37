package dev.starattn.model;

import dev.starattn.format.TensorSource;
import dev.starattn.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A model ready to run: its config, weights (mapped from the file), tokenizer, and a fingerprint
 * (a hash of the file's metadata and tensor table) that hosts use to check they hold the same model.
 * Closing it unmaps the file.
 */
public record LoadedModel(Path path, String format, LlamaConfig config, LlamaModel model, Tokenizer tokenizer,
                          String fingerprint, PromptTemplate template, TensorSource source) implements AutoCloseable {
    @Override
    public void close() {
        source.close();
    }
}
