package dev.starattn.testutil;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Files of the repository that tests read (the shipped model, the oracles' npm folders), found by
 * walking up from the working directory, which Maven sets to the module being tested.
 */
public final class RepoPaths {
    private RepoPaths() {}

    /** The nearest ancestor of the working directory that contains {@code relative}, or null. */
    public static Path ancestorWith(String relative) {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve(relative))) return p;
        }
        return null;
    }

    /** The repository root (the directory holding models/MODEL_CARD.md). */
    public static Path root() {
        Path p = ancestorWith("models/MODEL_CARD.md");
        if (p == null) throw new IllegalStateException("repository root (models/MODEL_CARD.md) not found");
        return p;
    }

    /** {@code dir} of the repository when it holds a package.json (an npm project), else null. */
    public static Path npmProject(String dir) {
        Path p = ancestorWith(dir + "/package.json");
        return p == null ? null : p.resolve(dir);
    }
}
