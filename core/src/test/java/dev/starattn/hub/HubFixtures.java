package dev.starattn.hub;

import dev.starattn.format.gguf.GgufWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Repositories for the test Hub, and an environment that points every cache into a test folder. */
final class HubFixtures {
    static final String SHA = "0123456789abcdef0123456789abcdef01234567";
    static final String GGUF_SHA = "89abcdef0123456789abcdef0123456789abcdef";
    static final int WEIGHTS_BYTES = 3_000_000;

    private HubFixtures() {}

    static HubEnvironment env(HubTestServer server, Path tmp, String token) {
        Map<String, String> m = new java.util.HashMap<>();
        m.put("HOME", tmp.toString());
        m.put("HF_ENDPOINT", server.endpoint());
        m.put("HF_HUB_CACHE", tmp.resolve("hub").toString());
        m.put("LLAMA_CACHE", tmp.resolve("llama").toString());
        if (token != null) m.put("HF_TOKEN", token);
        return HubEnvironment.from(m);
    }

    static HubEnvironment offline(HubEnvironment env) {
        return env.with(env.endpoint(), env.hubCache(), env.token(), true);
    }

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** A safetensors-style repository: what the engine needs, plus files a pull must leave alone. */
    static Map<String, byte[]> safetensorsRepo() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n".getBytes(StandardCharsets.UTF_8));
        files.put("README.md", "# tiny\n".getBytes(StandardCharsets.UTF_8));
        files.put("config.json", "{\"model_type\":\"llama\",\"hidden_size\":8}".getBytes(StandardCharsets.UTF_8));
        files.put("tokenizer.json", "{\"model\":{}}".getBytes(StandardCharsets.UTF_8));
        files.put("generation_config.json", "{\"eos_token_id\":2}".getBytes(StandardCharsets.UTF_8));
        files.put("model.safetensors", randomBytes(WEIGHTS_BYTES, 1));
        files.put("pytorch_model.bin", randomBytes(1000, 2));
        files.put("onnx/model.safetensors", randomBytes(1000, 3));
        return files;
    }

    static void addSafetensorsRepo(HubTestServer server, String id, String gatedToken) {
        server.addRepo(id, SHA, safetensorsRepo(), List.of("model.safetensors", "pytorch_model.bin", "onnx/model.safetensors"), gatedToken);
    }

    /** A GGUF repository of two quantizations, real GGUF headers that name the architecture. */
    static void addGgufRepo(HubTestServer server, String id) {
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put("README.md", "gguf\n".getBytes(StandardCharsets.UTF_8));
        files.put("tiny-Q4_K_M.gguf", gguf("qwen3", "Q4_K_M"));
        files.put("tiny-Q8_0.gguf", gguf("qwen3", "Q8_0"));
        files.put("mmproj-tiny-f16.gguf", gguf("clip", "f16"));
        server.addRepo(id, GGUF_SHA, files, List.of("tiny-Q4_K_M.gguf", "tiny-Q8_0.gguf", "mmproj-tiny-f16.gguf"), null);
    }

    static byte[] gguf(String architecture, String name) {
        return new GgufWriter().put("general.architecture", architecture).put("general.name", name).toBytes();
    }
}
