package dev.starattn.oracle;

import dev.starattn.tensor.GgmlType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** F32 GGUFs: our greedy tokens equal llama.cpp's for dense, star and ring (see {@link LlamaCppOracle}). */
class LlamaCppOracleTest extends LlamaCppOracle {
    @ParameterizedTest(name = "{0} {1} dim={2} seed={3}")
    @CsvSource({
            "llama, F32,  128, 1",
            "qwen2, F32,  128, 12",
    })
    void greedyTokensEqualLlamaCpp(String arch, GgmlType type, int dim, long seed) throws Exception {
        assertGreedyTokensEqualLlamaCpp(arch, type, dim, seed);
    }
}
