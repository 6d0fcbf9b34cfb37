package dev.starattn.oracle;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.tensor.GemmBackends;
import dev.starattn.tensor.GgmlType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Core's llama.cpp oracle cases (LlamaCppOracleTest, LlamaCppQ8OracleTest) again with the native
 * GEMM on for every product of 2+ tokens (the prompt chunk and the query): our greedy tokens must
 * still equal llama.cpp's for dense, star and ring.
 */
class NativeGemmOracleTest extends LlamaCppOracle {
    @BeforeAll
    static void nativeOn() {
        String d = GemmBackends.select("native");
        assertTrue(d.startsWith("native: OpenBLAS"), d);
        GemmBackends.setMinBatch(2);
    }

    @AfterAll
    static void restore() {
        GemmBackends.select("auto");
        GemmBackends.setMinBatch(GemmBackends.DEFAULT_MIN_BATCH);
    }

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
