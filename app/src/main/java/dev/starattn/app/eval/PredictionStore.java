package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * predictions.jsonl: one scored prediction per line, appended (and flushed) as soon as it is
 * scored, so an interrupted run resumes where it stopped. A prediction is identified by (task,
 * length, configuration, index) together with what makes the sample (seed, template, model,
 * data source); a rerun skips those already there. Without a directory it only keeps them in memory.
 */
public final class PredictionStore implements AutoCloseable {
    public static final ObjectMapper JSON = new ObjectMapper();
    private final Map<String, JsonNode> byKey = new HashMap<>();
    private final BufferedWriter out;

    public PredictionStore(Path dir) {
        try {
            if (dir == null) {
                out = null;
                return;
            }
            Files.createDirectories(dir);
            Path f = dir.resolve("predictions.jsonl");
            if (Files.exists(f)) {
                List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
                for (String line : lines) {
                    if (line.isBlank()) continue;
                    JsonNode n;
                    try {
                        n = JSON.readTree(line);
                    } catch (IOException e) {
                        continue; // a line cut short by an interrupted run: it is scored again
                    }
                    if (n.hasNonNull("key")) byKey.put(n.get("key").asText(), n);
                }
            }
            out = Files.newBufferedWriter(f, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String key(String source, String task, int length, String config, int index) {
        return source + "|" + task + "|" + length + "|" + config + "|" + index;
    }

    public synchronized JsonNode get(String key) {
        return byKey.get(key);
    }

    public synchronized void put(String key, ObjectNode record) {
        record.put("key", key);
        byKey.put(key, record);
        if (out == null) return;
        try {
            out.write(JSON.writeValueAsString(record));
            out.write('\n');
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void close() {
        if (out == null) return;
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
