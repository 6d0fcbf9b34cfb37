package dev.starattn.app.cli;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import java.nio.file.Path;

/** Loads a model for a command, reporting progress on stderr. */
final class ModelCli {
    private ModelCli() {}

    static LoadedModel load(Path path, boolean verbose) {
        java.io.PrintWriter err = new java.io.PrintWriter(System.err, true);
        return load(path, verbose ? err : null);
    }

    /**
     * Loads the model; with {@code err} non-null, one line on success. Nothing is printed before
     * the model has loaded, so that a bad file gives exactly one line: the error.
     */
    static LoadedModel load(Path path, java.io.PrintWriter err) {
        long t0 = System.nanoTime();
        LoadedModel m = ModelLoader.load(path);
        if (err != null) {
            err.printf("loaded %s (%s) in %.0f ms%n", dev.starattn.hub.ModelLocator.displayName(path), m.config(), (System.nanoTime() - t0) / 1e6);
            err.flush();
        }
        return m;
    }
}
