package dev.starattn.hub;

import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Which files of a repository a pull fetches: by default only what the engine reads (the config, the
 * tokenizer files, the chat template, the safetensors shards and their index), or one GGUF file of a
 * GGUF repository; {@code --include GLOB} (any number) chooses instead, {@code --file} names the GGUF.
 */
public record FileSelection(List<String> includes, String ggufFile) {
    /** Small files beside the weights that the engine (or its chat template) reads, when the repository has them. */
    static final Set<String> ENGINE_FILES = Set.of("config.json", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json");

    public FileSelection {
        includes = includes == null ? List.of() : List.copyOf(includes);
    }

    public static FileSelection engineDefault() {
        return new FileSelection(List.of(), null);
    }

    /** The files to fetch, in the repository's order; fails in one sentence when nothing fits. */
    public List<String> choose(RepoRef repo, List<String> files) {
        if (ggufFile != null) return List.of(GgufChoice.pick(files, ggufFile, repo.id()));
        if (!includes.isEmpty()) {
            List<PathMatcher> matchers = includes.stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g)).toList();
            List<String> out = files.stream().filter(f -> matchers.stream().anyMatch(m -> m.matches(Path.of(f)))).toList();
            if (out.isEmpty()) throw new dev.starattn.cli.UsageException("no file of " + repo.id() + " matches --include " + String.join(" ", includes));
            return out;
        }
        List<String> weights = files.stream().filter(f -> !f.contains("/") && f.endsWith(".safetensors")).toList();
        if (files.contains("config.json") && !weights.isEmpty()) {
            List<String> out = new ArrayList<>();
            for (String f : files) {
                if (f.contains("/")) continue;
                if (ENGINE_FILES.contains(f) || f.endsWith(".safetensors") || f.endsWith(".safetensors.index.json")) out.add(f);
            }
            return out;
        }
        if (!GgufChoice.candidates(files).isEmpty()) return List.of(GgufChoice.pick(files, null, repo.id()));
        throw new dev.starattn.cli.UsageException(repo.id() + " holds neither safetensors weights with a config.json nor a GGUF file, "
                + "which is what starattn runs; choose files with --include to fetch them anyway");
    }
}
