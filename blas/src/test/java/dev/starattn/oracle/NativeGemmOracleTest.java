package dev.starattn.oracle;

import dev.starattn.tensor.GgmlType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.starattn.blas.NativeGemmForced;

/**
 * Core's llama.cpp oracle cases (LlamaCppOracleTest, LlamaCppQ8OracleTest) again with the native
 * GEMM on for every product of 2+ tokens (the prompt chunk and the query): our greedy tokens must
 * still equal llama.cpp's for dense, star and ring.
 */
@ExtendWith(NativeGemmForced.class)
class NativeGemmOracleTest extends LlamaCppOracle {
    @ParameterizedTest(name = "{0} {1} dim={2} seed={3}")
    @CsvSource({
            "llama, F32,  128, 1",
            "qwen2, F32,  128, 12",
            "llama, Q8_0, 256, 10",
            "qwen2, Q8_0, 256, 6",
    })
    void greedyTokensEqualLlamaCpp(String arch, GgmlType type, int dim, long seed) throws Exception {
        assertGreedyTokensEqualLlamaCpp(arch, type, dim, seed);
    }
}
