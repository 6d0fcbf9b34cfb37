package dev.starattn.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.format.gguf.GgufFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code starattn list}: the models in huggingface_hub's cache (and llama.cpp's), with their size on
 * disk, their family ({@code model_type} of config.json, {@code general.architecture} of a GGUF) and
 * their revisions.
 */
public final class CachedModels {
    /**
     * One cached repository (or one flat llama.cpp file).
     *
     * @param name      {@code ORG/NAME}, or the file name for llama.cpp's flat files
     * @param family    what the model calls its architecture, "?" when no file says
     * @param bytes     bytes on disk (blobs, partial downloads included)
     * @param revisions ref name (or "(detached)") to commit, in the order found
     * @param path      the repository folder or the file
     * @param source    "hub" (huggingface_hub's layout) or "llama.cpp"
     */
    public record Entry(String name, String family, long bytes, Map<String, String> revisions, Path path, String source) {}

    private final HubEnvironment env;

    public CachedModels(HubEnvironment env) {
        this.env = env;
    }

    public List<Entry> list() {
        List<Entry> out = new ArrayList<>(hubLayout(env.hubCache()));
        if (env.llamaCacheSet() && !env.llamaCache().equals(env.hubCache())) out.addAll(hubLayout(env.llamaCache()));
        out.addAll(llamaFlat(env.llamaCache()));
        return out;
    }

    private static List<Entry> hubLayout(Path root) {
        List<Entry> out = new ArrayList<>();
        for (Path dir : children(root)) {
            String folder = dir.getFileName().toString();
            if (!folder.startsWith("models--") || !Files.isDirectory(dir)) continue;
            String id = folder.substring("models--".length()).replace("--", "/");
            Map<String, String> revisions = revisions(dir);
            out.add(new Entry(id, family(dir, revisions), sizeOf(dir.resolve("blobs")), revisions, dir, "hub"));
        }
        return out;
    }

    private static List<Entry> llamaFlat(Path dir) {
        List<Entry> out = new ArrayList<>();
        for (Path f : children(dir)) {
            String n = f.getFileName().toString();
            if (!Files.isRegularFile(f) || !n.toLowerCase(java.util.Locale.ROOT).endsWith(".gguf")) continue;
            out.add(new Entry(n, ggufArchitecture(f), size(f), Map.of(), f, "llama.cpp"));
        }
        return out;
    }

    /** {@code refs/<name>} to commit, then snapshots no ref names as "(detached)". */
    private static Map<String, String> revisions(Path repoDir) {
        Map<String, String> out = new LinkedHashMap<>();
        Path refs = repoDir.resolve("refs");
        if (Files.isDirectory(refs)) {
            try (Stream<Path> s = Files.walk(refs)) {
                s.filter(Files::isRegularFile).sorted().forEach(p -> {
                    try {
                        String sha = Files.readString(p).strip();
                        if (RepoRef.isCommit(sha)) out.put(refs.relativize(p).toString().replace('\\', '/'), sha);
                    } catch (IOException e) {
                        // an unreadable ref is left out; its snapshot still shows as detached
                    }
                });
            } catch (IOException e) {
                // no refs to show
            }
        }
        for (Path snap : children(repoDir.resolve("snapshots"))) {
            String sha = snap.getFileName().toString();
            if (!out.containsValue(sha)) out.put("(detached)" + (out.containsKey("(detached)") ? " " + sha.substring(0, 8) : ""), sha);
        }
        return out;
    }

    /** The family of the snapshot {@code main} names (else the first one): config.json's model_type, else a GGUF's architecture. */
    private static String family(Path repoDir, Map<String, String> revisions) {
        String sha = revisions.getOrDefault("main", revisions.values().stream().findFirst().orElse(null));
        if (sha == null) return "?";
        Path snap = repoDir.resolve("snapshots").resolve(sha);
        Path config = snap.resolve("config.json");
        if (Files.isRegularFile(config)) {
            try {
                String t = new ObjectMapper().readTree(config.toFile()).path("model_type").asText("");
                if (!t.isEmpty()) return t;
            } catch (IOException e) {
                return "?";
            }
        }
        for (Path f : children(snap)) {
            if (f.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf") && Files.isRegularFile(f)) return ggufArchitecture(f);
        }
        return "?";
    }

    private static String ggufArchitecture(Path file) {
        try (GgufFile g = GgufFile.open(file)) {
            return g.getString("general.architecture", "?");
        } catch (RuntimeException e) {
            return "?"; // a partial or foreign file: listed, family unknown
        }
    }

    private static long sizeOf(Path dir) {
        long total = 0;
        for (Path p : children(dir)) total += size(p);
        return total;
    }

    private static long size(Path p) {
        try {
            return Files.isRegularFile(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static List<Path> children(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
