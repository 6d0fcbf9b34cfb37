package dev.starattn.hub;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The files llama.cpp's {@code -hf ORG/NAME} fetched before it adopted huggingface_hub's layout: flat
 * in its cache folder ({@code LLAMA_CACHE}, else {@code ~/.cache/llama.cpp}), named
 * {@code ORG_NAME_FILE} with every {@code /} made {@code _}, beside {@code .json}/{@code .etag} notes.
 * (Newer llama.cpp writes the Hub layout, into {@code LLAMA_CACHE} when set, else into the Hub cache.)
 */
final class LlamaCppCache {
    private final Path dir;

    LlamaCppCache(Path dir) {
        this.dir = dir;
    }

    /** The GGUF files cached for the repository, by their name in the repository (the part after {@code ORG_NAME_}). */
    List<String> ggufNames(RepoRef repo) {
        String prefix = prefix(repo);
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            List<String> out = new ArrayList<>();
            s.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith(prefix) && n.toLowerCase(java.util.Locale.ROOT).endsWith(".gguf"))
                    .forEach(n -> out.add(n.substring(prefix.length())));
            out.sort(null);
            return out;
        } catch (IOException e) {
            return List.of();
        }
    }

    /** The path of the chosen GGUF of the repository, if llama.cpp has any. */
    Optional<Path> find(RepoRef repo, String ggufFile) {
        List<String> names = ggufNames(repo);
        if (GgufChoice.candidates(names).isEmpty()) return Optional.empty();
        String wanted = ggufFile == null ? null : ggufFile.replace('/', '_');
        return Optional.of(dir.resolve(prefix(repo) + GgufChoice.pick(names, wanted, repo.id() + " in llama.cpp's cache " + dir)));
    }

    Path dir() {
        return dir;
    }

    private static String prefix(RepoRef repo) {
        return repo.id().replace('/', '_') + "_";
    }
}
