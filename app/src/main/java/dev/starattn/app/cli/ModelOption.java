package dev.starattn.app.cli;

import dev.starattn.hub.ModelLocator;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code -m MODEL} (and {@code --file}) for every command that runs a model: a local GGUF file or
 * Hugging Face directory, or {@code ORG/NAME[@REVISION]} found in the caches ({@link ModelLocator}, the
 * one place a model argument becomes a path).
 */
public final class ModelOption {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL",
            description = "GGUF file, Hugging Face model directory, or ORG/NAME[@REVISION] from the Hugging Face cache "
                    + "(or llama.cpp's); `starattn pull ORG/NAME` downloads one.")
    String spec;

    @Option(names = "--file", paramLabel = "GGUF",
            description = "The GGUF file of a repository or folder that holds several: its name or quantization (e.g. Q4_K_M); "
                    + "default: the only one, else Q8_0, else Q4_K_M.")
    String file;

    private Path resolved;

    /** The model's path; a repository that is not cached is a usage error that says how to pull it. */
    public Path path() {
        if (resolved == null) resolved = ModelLocator.resolve(spec, file);
        return resolved;
    }
}
