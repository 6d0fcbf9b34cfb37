package dev.starattn.examples;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository root (holding README.md and the shipped model), found upward from Maven's working directory. */
final class Repo {
    private Repo() {}

    static Path root() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("models/MODEL_CARD.md")) && Files.exists(p.resolve("README.md"))) return p;
        }
        throw new IllegalStateException("repository root (models/MODEL_CARD.md) not found");
    }
}
