package dev.starattn.oracle;

import dev.starattn.tensor.GgmlType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Q8_0 GGUFs, seeds whose top-1 margins are clear: our greedy tokens equal llama.cpp's for dense, star and ring. */
class LlamaCppQ8OracleTest extends LlamaCppOracle {
    @ParameterizedTest(name = "{0} {1} dim={2} seed={3}")
    @CsvSource({
            "llama, Q8_0, 256, 10",
            "qwen2, Q8_0, 256, 6",
    })
    void greedyTokensEqualLlamaCpp(String arch, GgmlType type, int dim, long seed) throws Exception {
        assertGreedyTokensEqualLlamaCpp(arch, type, dim, seed);
    }
}
