package dev.starattn.app.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.attention.KvType;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Dense prefill and decode throughput of the engine on one model: the figure to hold beside
 * llama.cpp on the same GGUF ({@code tools/bench/vs-llamacpp.sh} runs both in one go).
 */
@Command(name = "engine", mixinStandardHelpOptions = true, description = "Dense prefill and decode tokens/s.")
public final class EngineBench implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "Model file (default: a random model, see --random).")
    Path model;

    @Option(names = "--random", defaultValue = "125m", description = "Random model shape when no -m: 125m or tiny.")
    String random;

    @Option(names = "--weights", defaultValue = "q8_0", description = "Weight type of the random model.")
    String weights;

    @Option(names = "--prompt", defaultValue = "2048", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int prompt;

    @Option(names = "--decode", defaultValue = "32", description = "Tokens to decode (default: ${DEFAULT-VALUE}).")
    int decode;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed repeats after one warm-up (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--prefill-chunk", defaultValue = "2048", description = "Tokens per forward chunk.")
    int chunk;

    @Option(names = "--kv-type", defaultValue = "f32",
            description = "KV cache type: f32, f16 (llama.cpp's default, the like-for-like comparison) or q8_0 (default: ${DEFAULT-VALUE}).")
    String kvType;

    @Option(names = "--json", description = "Write the results as JSON to this file.")
    Path json;

    @Override
    public Integer call() throws Exception {
        KvType kv;
        try {
            kv = KvType.parse(kvType);
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException("--kv-type takes f32, f16 or q8_0, not '" + kvType + "'");
        }
        try (LoadedModel m = BenchModels.load(model, random, weights)) {
            int[] tokens = new Random(1).ints(prompt + 1, 3, m.config().vocabSize()).toArray();
            int[] ctx = java.util.Arrays.copyOf(tokens, prompt);
            int[] q = {tokens[prompt]};
            InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.dense().withPrefillChunk(chunk).withKvType(kv));
            double[] prefill = new double[repeats], dec = new double[repeats];
            for (int r = -1; r < repeats; r++) {
                EncodedContext enc = e.encode(ctx, ProgressListener.NONE);
                GenerationResult g = e.generate(enc, q, SamplingOptions.greedy(), decode + 1, t -> false, t -> {});
                if (r < 0) continue; // warm-up
                prefill[r] = prompt / (enc.phase1Nanos() / 1e9);
                dec[r] = g.decodeTokensPerSecond();
                System.err.printf("  repeat %d: prefill %.1f tok/s, decode %.2f tok/s%n", r + 1, prefill[r], dec[r]);
            }
            double pm = Stats.median(prefill), dm = Stats.median(dec);
            System.out.printf("model %s (%s), KV %s%n", m.path().getFileName(), m.config(), kvType);
            System.out.printf("prefill %d tokens: %.1f tokens/s (%.2f s)   decode: %.2f tokens/s (%.1f ms/token)   [median of %d]%n",
                    prompt, pm, prompt / pm, dm, 1000 / dm, repeats);
            if (json != null) {
                ObjectNode j = new ObjectMapper().createObjectNode();
                j.put("model", m.path().toString());
                j.put("kv_type", kvType);
                j.put("prompt_tokens", prompt);
                j.put("decode_tokens", decode);
                j.put("prefill_tokens_per_s", pm);
                j.put("decode_tokens_per_s", dm);
                ArrayNode a = j.putArray("prefill_runs");
                for (double v : prefill) a.add(v);
                ArrayNode b = j.putArray("decode_runs");
                for (double v : dec) b.add(v);
                Files.writeString(json, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(j));
            }
        }
        return 0;
    }
}
