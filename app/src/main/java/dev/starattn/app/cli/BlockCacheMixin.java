package dev.starattn.app.cli;

import dev.starattn.engine.BlockCache;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import picocli.CommandLine.Option;

/** The star block cache options, shared by generate, host and serve. */
public final class BlockCacheMixin {
    @Option(names = "--cache-dir", description = "Directory of the block cache of star and star-pass: encoded blocks are kept there (and in memory) and reused, also after a restart.")
    Path cacheDir;

    @Option(names = "--cache-mem", defaultValue = "1g", description = "Memory budget of the block cache, e.g. 512m, 2g (default: ${DEFAULT-VALUE}).")
    String cacheMem;

    @Option(names = "--cache-disk", defaultValue = "16g", description = "Size budget of --cache-dir; least recently used blocks go first (default: ${DEFAULT-VALUE}).")
    String cacheDisk;

    /** Whether --cache-dir was given. */
    public boolean enabled() {
        return cacheDir != null;
    }

    /**
     * The block cache for this model, or null when --cache-dir is not given. The model's identity
     * (a hash of all its bytes) is computed only then, and remembered in the cache directory.
     */
    public BlockCache create(LoadedModel model, Consumer<String> warnings) {
        if (cacheDir == null) return null;
        checkDirectory();
        long mem = EngineMixin.parseSize(cacheMem, "--cache-mem"), disk = EngineMixin.parseSize(cacheDisk, "--cache-disk");
        return new BlockCache(model.fingerprint(cacheDir), mem, cacheDir, disk, warnings);
    }

    private void checkDirectory() {
        if (Files.exists(cacheDir) && !Files.isDirectory(cacheDir)) {
            throw new IllegalArgumentException("--cache-dir " + cacheDir + " is a file, not a directory");
        }
    }
}
