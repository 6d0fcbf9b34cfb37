package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Samples in the NVIDIA reference's jsonl format: {@code input_context}, {@code input_query}, {@code outputs} (or {@code output}). */
public final class DataFiles {
    private DataFiles() {}

    public static void write(Path file, List<EvalSample> samples) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (EvalSample s : samples) {
                ObjectNode o = PredictionStore.JSON.createObjectNode();
                o.put("index", s.index());
                o.put("task", s.task());
                o.put("input_context", s.inputContext());
                o.put("input_query", s.inputQuery());
                o.putArray("outputs").addAll(s.outputs().stream().map(PredictionStore.JSON.getNodeFactory()::textNode).toList());
                o.put("length", s.length());
                if (s.targetLength() > 0) o.put("target_length", s.targetLength());
                w.write(PredictionStore.JSON.writeValueAsString(o));
                w.write('\n');
            }
        }
    }

    /**
     * Reads a data set. A record without {@code task} takes the file's name (without .jsonl); without
     * {@code index}, its line number; without {@code length}, -1.
     */
    public static List<EvalSample> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("data file " + file + " does not exist");
        return parse(Files.readString(file, StandardCharsets.UTF_8), "data file " + file, file.getFileName().toString());
    }

    /**
     * Parses a data set's text; {@code name} names it in errors ("data file x.jsonl"), {@code fileName} gives records without
     * {@code task} their task (the name without .jsonl).
     */
    public static List<EvalSample> parse(String text, String name, String fileName) {
        String fallbackTask = fileName.replaceFirst("\\.jsonl?$", "");
        List<EvalSample> out = new ArrayList<>();
        int lineNo = 0;
        for (String line : text.split("\\R", -1)) {
            lineNo++;
            if (line.isBlank()) continue;
            JsonNode n;
            try {
                n = PredictionStore.JSON.readTree(line);
            } catch (IOException e) {
                throw new IllegalArgumentException(name + " line " + lineNo + " is not JSON: " + e.getMessage());
            }
            if (!n.hasNonNull("input_context") || !n.hasNonNull("input_query")) {
                throw new IllegalArgumentException(name + " line " + lineNo + " lacks input_context or input_query");
            }
            List<String> outputs = new ArrayList<>();
            JsonNode o = n.has("outputs") ? n.get("outputs") : n.get("output");
            if (o == null || o.isNull()) throw new IllegalArgumentException(name + " line " + lineNo + " has neither outputs nor output");
            if (o.isArray()) o.forEach(x -> outputs.add(x.asText()));
            else outputs.add(o.asText());
            out.add(new EvalSample(n.hasNonNull("task") ? n.get("task").asText() : fallbackTask,
                    n.hasNonNull("index") ? n.get("index").asInt() : out.size(),
                    n.get("input_context").asText(), n.get("input_query").asText(), outputs,
                    n.hasNonNull("length") ? n.get("length").asInt() : -1,
                    n.hasNonNull("target_length") ? n.get("target_length").asInt() : 0));
        }
        if (out.isEmpty()) throw new IllegalArgumentException(name + " holds no samples");
        return out;
    }
}
