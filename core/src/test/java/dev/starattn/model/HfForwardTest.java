package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.format.safetensors.HfModelDir;
import dev.starattn.testutil.InMemoryModel;
import dev.starattn.testutil.ReferenceForward;
import dev.starattn.testutil.HfDirWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Hugging Face directory (config.json, safetensors, tokenizer.json) loads and runs with
 * Hugging Face's conventions: rotate-half RoPE, Llama 3.1 rope scaling from config.json.
 */
class HfForwardTest {
    @TempDir
    Path dir;

    @Test
    void safetensorsModelMatchesReference() throws Exception {
        int vocab = 300;
        DecoderConfig c = new DecoderConfig("llama", 64, 2, 4, 2, 16, 96, vocab, 512, 1e-5f, 10000f, 16, true,
                DecoderConfig.defaultInvFreq(10000f, 16), false, false);
        InMemoryModel m = new InMemoryModel(c, 21);
        HfDirWriter.write(dir, c, m, true);
        try (LoadedModel lm = ModelLoader.load(dir)) {
            assertTrue(lm.source() instanceof HfModelDir);
            assertTrue(lm.config().ropeNeox(), "safetensors models use rotate-half RoPE");
            int[] tokens = new Random(2).ints(29, 0, 256).toArray();
            int[] pos = new int[tokens.length];
            for (int i = 0; i < pos.length; i++) pos[i] = i;
            double[][] ref = new ReferenceForward(c, m.arrays).logits(tokens, pos);
            InferenceEngine e = new InferenceEngine(lm.model(), EngineOptions.dense());
            var enc = e.encode(java.util.Arrays.copyOf(tokens, 25), ProgressListener.NONE);
            var res = e.generate(enc, java.util.Arrays.copyOfRange(tokens, 25, 29), SamplingOptions.greedy(), 1, t -> false, t -> {});
            double err = ForwardTest.relError(ref[28], res.firstLogits());
            assertTrue(err < 1e-4, "relative logit error " + err);
            // The tokenizer from tokenizer.json round-trips text.
            String text = "héllo wörld 123";
            assertEquals(text, lm.tokenizer().decode(lm.tokenizer().encode(text)));
        }
        // Without tokenizer.json the model still loads and runs on token ids; text is refused in one sentence.
        Files.delete(dir.resolve("tokenizer.json"));
        try (LoadedModel lm = ModelLoader.load(dir)) {
            var e = assertThrows(dev.starattn.format.ModelFormatException.class, () -> lm.tokenizer().encode("hello"));
            assertTrue(e.getMessage().contains("has no tokenizer.json") && e.getMessage().contains("--context-tokens"), e.getMessage());
            assertEquals("<5><17>", lm.tokenizer().decode(new int[] {5, 17}));
            assertEquals(vocab, lm.tokenizer().vocabSize());
            InferenceEngine eng = new InferenceEngine(lm.model(), EngineOptions.dense());
            int[] tokens = new Random(2).ints(29, 0, 256).toArray();
            var enc = eng.encode(java.util.Arrays.copyOf(tokens, 25), ProgressListener.NONE);
            var res = eng.generate(enc, java.util.Arrays.copyOfRange(tokens, 25, 29), SamplingOptions.greedy(), 1, t -> false, t -> {});
            double[][] ref = new ReferenceForward(c, m.arrays).logits(tokens, java.util.stream.IntStream.range(0, 29).toArray());
            assertTrue(ForwardTest.relError(ref[28], res.firstLogits()) < 1e-4);
        }
    }

    @Test
    void llama31RopeScalingIsReadFromConfig() {
        float[] inv = DecoderConfig.defaultInvFreq(500000f, 128);
        float[] scaled = DecoderConfig.llama3ScaledInvFreq(inv, 8, 1, 4, 8192);
        assertEquals(inv[0], scaled[0], 0f, "high frequencies are kept");
        assertEquals(inv[63] / 8, scaled[63], 1e-12, "low frequencies are divided by the factor");
        for (int i = 0; i < inv.length; i++) assertTrue(scaled[i] <= inv[i] && scaled[i] >= inv[i] / 8);
    }
}
