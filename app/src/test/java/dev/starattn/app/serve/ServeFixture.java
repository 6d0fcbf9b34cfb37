package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;

/** A tiny random model behind a server on an ephemeral loopback port, and a java.net.http client for it. */
final class ServeFixture implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    final LoadedModel model;
    final StarServer server;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    final String base;
    /** The server's request log lines. */
    final java.util.Queue<String> log = new java.util.concurrent.ConcurrentLinkedQueue<>();
    String apiKey;

    ServeFixture(Path dir, ServerConfig cfg, int hosts) throws Exception {
        this(dir, cfg, hosts, null);
    }

    /** With a star block cache in {@code cacheDir} (null: none). */
    ServeFixture(Path dir, ServerConfig cfg, int hosts, Path cacheDir) throws Exception {
        this(dir, cfg, hosts, cacheDir, null);
    }

    /** Under {@code --attention auto} with the picker {@code auto} makes for the model (null: star throughout). */
    ServeFixture(Path dir, ServerConfig cfg, int hosts, Path cacheDir,
                 java.util.function.Function<LoadedModel, dev.starattn.engine.strategy.AutoAttention.Picker> auto) throws Exception {
        Path m = dir.resolve("tiny.gguf");
        if (!m.toFile().exists()) new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(m);
        model = ModelLoader.load(m);
        var cache = cacheDir == null ? null : new dev.starattn.engine.BlockCache(model.fingerprint(), 1L << 28, cacheDir, 1L << 28);
        server = new StarServer(model, new InferenceEngine(model.model(), EngineOptions.of(AttentionMode.STAR, hosts))
                .withBlockCache(cache), cfg, log::add, auto == null ? null : auto.apply(model)).start();
        base = "http://127.0.0.1:" + server.port();
        apiKey = cfg.apiKey();
    }

    HttpRequest.Builder req(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
        if (apiKey != null) b.header("Authorization", "Bearer " + apiKey);
        return b;
    }

    HttpResponse<String> get(String path) throws Exception {
        return http.send(req(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> delete(String path) throws Exception {
        return http.send(req(path).DELETE().build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String json) throws Exception {
        return http.send(req(path).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, Object body) throws Exception {
        return post(path, JSON.writeValueAsString(body));
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    /** Uploads a document and waits until it is ready; returns its id. */
    String document(String text) throws Exception {
        var r = post("/v1/documents", java.util.Map.of("text", text));
        if (r.statusCode() != 202) throw new AssertionError(r.statusCode() + " " + r.body());
        String id = json(r).get("id").asText();
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < end) {
            JsonNode d = json(get("/v1/documents/" + id));
            if (d.path("status").asText().equals("ready")) return id;
            if (d.path("status").asText().equals("failed")) throw new AssertionError(d.toString());
            Thread.sleep(10);
        }
        throw new AssertionError("document " + id + " not ready in time");
    }

    /** Text of about {@code chars} characters (one token per byte with the tiny model's tokenizer). */
    static String text(int chars, long seed) {
        String[] words = {"the", "star", "attention", "host", "block", "anchor", "query", "context", "river", "stone", "blue", "seven"};
        java.util.Random r = new java.util.Random(seed);
        StringBuilder b = new StringBuilder();
        while (b.length() < chars) b.append(words[r.nextInt(words.length)]).append(r.nextInt(10) == 0 ? ". " : " ");
        return b.substring(0, chars);
    }

    @Override
    public void close() throws Exception {
        server.close();
        model.close();
    }
}
