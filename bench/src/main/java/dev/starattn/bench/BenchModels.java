package dev.starattn.bench;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Models for benchmarks: a file, or a named random-weight shape written once to a cache folder
 * (so that llama.cpp can be measured on the very same file).
 */
public final class BenchModels {
    private BenchModels() {}

    /** "125m": the engine issue's reference shape (dim 768, 12 layers, 12 heads, 4 kv heads, ff 2048, vocab 32000). */
    public static Path random(String shape, String type) {
        GgmlType t = GgmlType.valueOf(type.toUpperCase(Locale.ROOT));
        Path dir = Path.of(System.getProperty("user.home"), ".cache", "starattn");
        Path file = dir.resolve("random-" + shape + "-" + t.name().toLowerCase(Locale.ROOT) + ".gguf");
        if (Files.exists(file)) return file;
        RandomLlamaModel m = switch (shape) {
            case "125m" -> new RandomLlamaModel().dim(768).layers(12).heads(12).kvHeads(4).ffnDim(2048).vocab(32000)
                    .contextLength(131072).ropeBase(500000f);
            case "tiny" -> new RandomLlamaModel().dim(256).layers(4).heads(4).kvHeads(2).ffnDim(768).vocab(1024)
                    .contextLength(131072).ropeBase(500000f);
            default -> throw new IllegalArgumentException("unknown random model shape '" + shape + "' (use 125m or tiny)");
        };
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "random", ".part");
            System.err.println("writing random " + shape + " " + t + " model to " + file + " ...");
            m.weightType(t).seed(125).write(tmp);
            Files.move(tmp, file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return file;
    }

    public static LoadedModel load(Path model, String randomShape, String type) {
        // -m ORG/NAME finds a cached model as every command does (dev.starattn.hub.ModelLocator)
        Path p = model != null ? dev.starattn.hub.ModelLocator.resolve(model.toString(), null) : random(randomShape, type);
        return ModelLoader.load(p);
    }
}
