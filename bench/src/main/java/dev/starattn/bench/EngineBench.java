package dev.starattn.bench;

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
import dev.starattn.tensor.GemmBackends;
import dev.starattn.tensor.MatVec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Dense prefill and decode throughput of the engine on one model: the figure to hold beside
 * llama.cpp on the same GGUF ({@code tools/bench/vs-llamacpp.sh} runs both in one go). With
 * {@code --gemm java,native} the prefill matrix products alternate between the Java kernel and the
 * native GEMM (module blas) within one run, repeat by repeat, so both see the same machine.
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

    @Option(names = "--gemm", split = ",",
            description = "Prefill matrix products: java, native or auto (the default choice, -Dstarattn.gemm); "
                    + "a list such as java,native alternates them repeat by repeat and reports each (default: auto).")
    List<String> gemm = new ArrayList<>(List.of("auto"));

    @Option(names = "--decode-kernel", split = ",",
            description = "Decode (batch-1) Q8_0 products: java, native or auto (-Dstarattn.decode); a list such as "
                    + "java,native alternates them repeat by repeat and reports each (default: auto).")
    List<String> decodeKernel = new ArrayList<>(List.of("auto"));

    @Option(names = "--reuse-context",
            description = "Encode the prompt once (no warm-up: its prefill figure includes the JIT's) and time only decode in each repeat, from that context.")
    boolean reuseContext;

    @Option(names = "--json", description = "Write the results as JSON to this file.")
    Path json;

    /** CPU seconds of this process (every thread), in nanoseconds; with one thread, the work whatever else runs. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    @Override
    public Integer call() throws Exception {
        KvType kv;
        try {
            kv = KvType.parse(kvType);
        } catch (IllegalArgumentException ex) {
            throw new IllegalArgumentException("--kv-type takes f32, f16 or q8_0, not '" + kvType + "'");
        }
        List<String> modes = new ArrayList<>();
        for (String g : gemm) {
            String t = g.trim().toLowerCase(Locale.ROOT);
            if (!List.of("auto", "java", "native").contains(t)) {
                throw new IllegalArgumentException("--gemm takes java, native or auto (or a list of them), not '" + g + "'");
            }
            if (!modes.contains(t)) modes.add(t);
        }
        List<String> kernels = new ArrayList<>();
        for (String k : decodeKernel) {
            String t = k.trim().toLowerCase(Locale.ROOT);
            if (!List.of("auto", "java", "native").contains(t)) {
                throw new IllegalArgumentException("--decode-kernel takes java, native or auto (or a list of them), not '" + k + "'");
            }
            if (!kernels.contains(t)) kernels.add(t);
        }
        // Variants: every gemm mode with every decode kernel, named by what varies.
        List<String[]> variants = new ArrayList<>();
        for (String g : modes) for (String k : kernels) variants.add(new String[] {g, k});
        List<String> names = new ArrayList<>();
        for (String[] v : variants) {
            names.add(kernels.size() == 1 ? v[0] : modes.size() == 1 ? "decode-" + v[1] : v[0] + "/decode-" + v[1]);
        }
        try (LoadedModel m = BenchModels.load(model, random, weights)) {
            int[] tokens = new Random(1).ints(prompt + 1, 3, m.config().vocabSize()).toArray();
            int[] ctx = java.util.Arrays.copyOf(tokens, prompt);
            int[] q = {tokens[prompt]};
            InferenceEngine e = new InferenceEngine(m.model(), EngineOptions.dense().withPrefillChunk(chunk).withKvType(kv));
            int nm = variants.size();
            double[][] prefill = new double[nm][repeats], dec = new double[nm][repeats], decCpu = new double[nm][repeats];
            String[] used = new String[nm], usedDecode = new String[nm];
            EncodedContext shared = null;
            if (reuseContext) shared = e.encode(ctx, ProgressListener.NONE); // its prefill figure includes the JIT's warm-up
            for (int r = -1; r < repeats; r++) {
                for (int i = 0; i < nm; i++) {
                    used[i] = GemmBackends.select(variants.get(i)[0]);
                    usedDecode[i] = MatVec.selectKernel(variants.get(i)[1]);
                    EncodedContext enc = shared != null ? shared : e.encode(ctx, ProgressListener.NONE);
                    long c0 = processCpuNanos();
                    GenerationResult g = e.generate(enc, q, SamplingOptions.greedy(), decode + 1, t -> false, t -> {});
                    long cpu = processCpuNanos() - c0;
                    if (r < 0) continue; // warm-up
                    prefill[i][r] = prompt / (enc.phase1Nanos() / 1e9);
                    dec[i][r] = g.decodeTokensPerSecond();
                    // Steps of one token each: the query's and every decoded token's but the last.
                    decCpu[i][r] = (decode + 1) / (cpu / 1e9);
                    System.err.printf("  repeat %d, %s: prefill %.1f tok/s, decode %.2f tok/s, %.2f per CPU second%n", r + 1, names.get(i),
                            prefill[i][r], dec[i][r], decCpu[i][r]);
                }
            }
            System.out.printf("model %s (%s), KV %s%n", m.path().getFileName(), m.config(), kvType);
            double[] pm = new double[nm], dm = new double[nm];
            for (int i = 0; i < nm; i++) {
                pm[i] = Stats.median(prefill[i]);
                dm[i] = Stats.median(dec[i]);
                System.out.printf("%s: gemm %s (batches of %d+ tokens); decode %s%n", names.get(i), used[i], GemmBackends.minBatch(), usedDecode[i]);
                System.out.printf("prefill %d tokens: %.1f tokens/s (%.2f s)   decode: %.2f tokens/s (%.1f ms/token), %.2f per CPU second   [median of %d]%n",
                        prompt, pm[i], prompt / pm[i], dm[i], 1000 / dm[i], Stats.median(decCpu[i]), repeats);
            }
            if (json != null) {
                ObjectMapper om = new ObjectMapper();
                ObjectNode j = om.createObjectNode();
                j.put("model", m.path().toString());
                j.put("kv_type", kvType);
                j.put("prompt_tokens", prompt);
                j.put("decode_tokens", decode);
                // The top-level figures are the first --gemm mode's; by_gemm has every mode.
                j.put("gemm", variants.get(0)[0]);
                j.put("gemm_engine", used[0]);
                j.put("decode_kernel", usedDecode[0]);
                j.put("prefill_tokens_per_s", pm[0]);
                j.put("decode_tokens_per_s", dm[0]);
                j.put("decode_cpu_tokens_per_s", Stats.median(decCpu[0]));
                ArrayNode a = j.putArray("prefill_runs");
                for (double v : prefill[0]) a.add(v);
                ArrayNode b = j.putArray("decode_runs");
                for (double v : dec[0]) b.add(v);
                ObjectNode by = j.putObject("by_gemm");
                for (int i = 0; i < nm; i++) {
                    ObjectNode o = by.putObject(names.get(i));
                    o.put("engine", used[i]);
                    o.put("decode_kernel", usedDecode[i]);
                    o.put("prefill_tokens_per_s", pm[i]);
                    o.put("decode_tokens_per_s", dm[i]);
                    o.put("decode_cpu_tokens_per_s", Stats.median(decCpu[i]));
                    ArrayNode pa = o.putArray("prefill_runs");
                    for (double v : prefill[i]) pa.add(v);
                    ArrayNode da = o.putArray("decode_runs");
                    for (double v : dec[i]) da.add(v);
                }
                Files.writeString(json, om.writerWithDefaultPrettyPrinter().writeValueAsString(j));
            }
        }
        return 0;
    }
}
