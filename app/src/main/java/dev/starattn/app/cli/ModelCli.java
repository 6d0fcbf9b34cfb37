package dev.starattn.app.cli;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import java.nio.file.Path;

/** Loads a model for a command, reporting progress on stderr. */
final class ModelCli {
    private ModelCli() {}

    static LoadedModel load(Path path, boolean verbose) {
        long t0 = System.nanoTime();
        LoadedModel m = ModelLoader.load(path, verbose ? s -> System.err.println("loading: " + s) : s -> {});
        if (verbose) System.err.printf("loaded %s (%s) in %.0f ms%n", path.getFileName(), m.config(), (System.nanoTime() - t0) / 1e6);
        return m;
    }
}
