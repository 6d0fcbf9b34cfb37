package dev.starattn.model;

import dev.starattn.format.TensorSource;
import dev.starattn.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A model ready to run: its config, weights (mapped from the file), tokenizer, and its content
 * identity ({@link ModelHash}: every byte of every file the loader read), which block cache keys
 * and the cluster handshake use. Closing it unmaps the file.
 */
public record LoadedModel(Path path, String format, DecoderConfig config, DecoderModel model, Tokenizer tokenizer,
                          ModelHash contentHash, PromptTemplate template, TensorSource source) implements AutoCloseable {
    /**
     * The model's identity, hashed on first use (progress on stderr for a large model) and cached
     * in the per-user cache directory, so later runs pay nothing.
     */
    public String fingerprint() {
        return fingerprint(null);
    }

    /** As {@link #fingerprint()}, with the per-file hash cache in {@code cacheDir} (e.g. the block cache directory) when not null. */
    public String fingerprint(Path cacheDir) {
        return contentHash.identity(cacheDir, System.err::println);
    }

    @Override
    public void close() {
        source.close();
    }
}
