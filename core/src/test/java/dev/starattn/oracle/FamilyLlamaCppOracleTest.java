package dev.starattn.oracle;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.testutil.FamilyFixture;
import dev.starattn.testutil.FamilyGguf;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * llama.cpp runs each family's fixture as GGUF ({@link FamilyGguf}: llama tied, qwen2, qwen3,
 * gemma2, gemma3): its greedy tokens equal ours under dense and ring (star over one block is dense).
 */
class FamilyLlamaCppOracleTest extends LlamaCppOracle {
    static final int PROMPT_LEN = 24, CONTEXT_LEN = 20, STEPS = 12;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama3.2", "qwen2.5", "qwen3", "gemma2", "gemma3"})
    void greedyTokensEqualLlamaCpp(String family) throws Exception {
        FamilyFixture f = FamilyFixture.of(family);
        Path gguf = FamilyGguf.write(f.writeTo(dir.resolve(family + "-hf"), FamilyFixture.Style.V5), dir.resolve(family + ".gguf"));
        int[] prompt = Arrays.copyOf(f.tokens, PROMPT_LEN);
        int[] theirs = greedyTokens(gguf, prompt, STEPS);
        try (LoadedModel m = ModelLoader.load(gguf)) {
            for (EngineOptions o : new EngineOptions[] {EngineOptions.dense(), EngineOptions.of(AttentionMode.RING, 2)}) {
                InferenceEngine e = new InferenceEngine(m.model(), o);
                EncodedContext enc = e.encode(Arrays.copyOf(prompt, CONTEXT_LEN), ProgressListener.NONE);
                int[] ours = e.generate(enc, Arrays.copyOfRange(prompt, CONTEXT_LEN, PROMPT_LEN), SamplingOptions.greedy(), STEPS,
                        t -> false, t -> {}).tokens();
                assertArrayEquals(theirs, ours, family + " " + o.strategy().name() + ": greedy tokens differ from llama.cpp's");
            }
        }
    }
}
