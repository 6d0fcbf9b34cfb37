package dev.starattn.cuda;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The family fixtures (tools/oracle/hf_families.py, core's test resources {@code families/}) on the
 * GPU model: Llama 3.2 (tied), Qwen2.5 and Qwen3 (per-head Q/K norm) give transformers' float64 logits
 * at every position within {@code TOL} (the GPU rounds activations to bf16 between layers); Gemma 2
 * and 3 are refused in one sentence. Prints one line per family; exits 1 when one fails.
 *
 *   java ... dev.starattn.cuda.CudaFamilyCheck core/src/test/resources/families
 */
public final class CudaFamilyCheck {
    static final double TOL = 5e-2;

    public static void main(String[] args) throws Exception {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        Path root = Path.of(args.length > 0 ? args[0] : "core/src/test/resources/families");
        boolean ok = true;
        try (CudaDevice dev = CudaDevice.open(0)) {
            System.out.println("device " + dev.name());
            for (String family : new String[] {"llama3.2", "qwen2.5", "qwen3", "gemma2", "gemma3"}) {
                Path src = root.resolve(family);
                Path dir = Files.createTempDirectory("family-" + family);
                Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
                Files.copy(src.resolve("config.v5.json"), dir.resolve("config.json"));
                int[] tokens = Arrays.stream(Files.readString(src.resolve("ref_tokens.txt")).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
                ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(src.resolve("ref_logits.f32"))).order(ByteOrder.LITTLE_ENDIAN);
                try (LoadedModel lm = ModelLoader.load(dir)) {
                    int v = lm.config().vocabSize();
                    boolean gemma = lm.config().descriptor().family().gemma();
                    try (CudaModel gm = new CudaModel(dev, lm.model())) {
                        double max = 0;
                        for (int p = 0; p < tokens.length; p++) {
                            DeviceKv[] kv = gm.newCaches(p + 1);
                            int[] pos = new int[p + 1];
                            for (int i = 0; i <= p; i++) pos[i] = i;
                            float[] got = gm.forward(Arrays.copyOf(tokens, p + 1), pos, 0, p + 1, kv, true);
                            for (DeviceKv k : kv) k.close();
                            for (int i = 0; i < v; i++) max = Math.max(max, Math.abs(got[i] - b.getFloat((p * v + i) * 4)));
                        }
                        boolean pass = !gemma && max < TOL;
                        ok &= pass;
                        System.out.printf("%s %s: max |gpu logit - transformers| = %.3e over %d positions (tol %.0e)%n",
                                pass ? "PASS" : "FAIL", family, max, tokens.length, TOL);
                    } catch (CudaException e) {
                        boolean pass = gemma && e.getMessage().startsWith(lm.config().descriptor().family().name() + " runs on the CPU only");
                        ok &= pass;
                        System.out.println((pass ? "PASS " : "FAIL ") + family + " refused: " + e.getMessage());
                    }
                }
            }
        }
        System.out.println(ok ? "ALL PASSED" : "SOME FAILED");
        if (!ok) System.exit(1);
    }
}
