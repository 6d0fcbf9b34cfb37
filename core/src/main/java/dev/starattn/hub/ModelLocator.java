package dev.starattn.hub;

import dev.starattn.cli.UsageException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The one place a model argument ({@code -m}) becomes a path. A local file or directory wins; otherwise
 * {@code ORG/NAME[@REVISION]} is looked up in the caches people already have: the snapshot that
 * {@code refs/<revision>} names in huggingface_hub's cache (a GGUF repository's file chosen by
 * {@code --file}, else the only one, else the Q8_0, else the Q4_K_M one), then llama.cpp's cache.
 * Nothing is downloaded here: a repository that is not cached is one sentence saying how to pull it.
 */
public final class ModelLocator {
    private final HubEnvironment env;

    public ModelLocator(HubEnvironment env) {
        this.env = env;
    }

    /** As {@link #locate} with this process's environment. */
    public static Path resolve(String spec, String ggufFile) {
        return new ModelLocator(HubEnvironment.fromSystem()).locate(spec, ggufFile);
    }

    /** The path of the model {@code spec} names; {@code ggufFile} (may be null) picks a file of a GGUF repository or folder. */
    public Path locate(String spec, String ggufFile) {
        Optional<Path> local = localPath(spec);
        if (local.isPresent() && Files.exists(local.get())) {
            Path p = local.get();
            if (ggufFile != null && Files.isDirectory(p) && !Files.exists(p.resolve("config.json"))) {
                return p.resolve(GgufChoice.pick(HubPull.listFiles(p), ggufFile, p.toString()));
            }
            return p;
        }
        Optional<RepoRef> repo = looksLikeAFile(spec) ? Optional.empty() : RepoRef.parse(spec);
        if (repo.isEmpty()) return local.orElse(Path.of(spec)); // the loader then says that the file does not exist
        RepoRef r = repo.get();
        Optional<Path> found = inHubLayout(env.hubCache(), r, ggufFile);
        if (found.isEmpty() && env.llamaCacheSet()) found = inHubLayout(env.llamaCache(), r, ggufFile);
        if (found.isEmpty() && r.revision().equals(RepoRef.DEFAULT_REVISION)) found = new LlamaCppCache(env.llamaCache()).find(r, ggufFile);
        return found.orElseThrow(() -> new UsageException(spec + " is not a local path and is not in the Hugging Face cache ("
                + env.hubCache() + ") or llama.cpp's (" + env.llamaCache() + "); download it with `starattn pull " + r + "`"));
    }

    private static Optional<Path> inHubLayout(Path root, RepoRef repo, String ggufFile) {
        HubCache cache = new HubCache(root, repo);
        Optional<String> commit = cache.commitOf(repo.revision());
        if (commit.isEmpty() || !Files.isDirectory(cache.snapshot(commit.get()))) return Optional.empty();
        Path snapshot = cache.snapshot(commit.get());
        List<String> files = HubPull.listFiles(snapshot);
        if (ggufFile != null) return Optional.of(snapshot.resolve(GgufChoice.pick(files, ggufFile, repo.toString())));
        if (files.contains("config.json")) return Optional.of(snapshot);
        if (!GgufChoice.candidates(files).isEmpty()) return Optional.of(snapshot.resolve(GgufChoice.pick(files, null, repo.toString())));
        throw new UsageException("the cached snapshot " + snapshot + " of " + repo + " holds no config.json and no GGUF file; run `starattn pull " + repo + "` again");
    }

    /**
     * How to name a model to people: {@code ORG/NAME} for a snapshot folder of the Hub cache (whose own
     * name is a commit hash), else the file or folder name.
     */
    public static String displayName(Path model) {
        Path name = model.getFileName();
        Path snapshots = model.getParent();
        if (name != null && RepoRef.isCommit(name.toString()) && snapshots != null && snapshots.getFileName() != null
                && snapshots.getFileName().toString().equals("snapshots") && snapshots.getParent() != null) {
            String repoFolder = snapshots.getParent().getFileName().toString();
            if (repoFolder.startsWith("models--")) return repoFolder.substring("models--".length()).replace("--", "/");
        }
        return name == null ? model.toString() : name.toString();
    }

    /** {@code dir/model.gguf} has a repository's shape but means a file: a missing one is reported as such. */
    private static boolean looksLikeAFile(String spec) {
        String lower = spec.toLowerCase(java.util.Locale.ROOT);
        return lower.endsWith(".gguf") || lower.endsWith(".safetensors") || lower.endsWith(".json");
    }

    private static Optional<Path> localPath(String spec) {
        try {
            return Optional.of(Path.of(spec));
        } catch (InvalidPathException e) {
            return Optional.empty();
        }
    }
}
