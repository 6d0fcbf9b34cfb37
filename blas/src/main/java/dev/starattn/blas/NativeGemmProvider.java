package dev.starattn.blas;

import dev.starattn.config.Switches;
import dev.starattn.tensor.GemmBackend;

/** Registers {@link NativeGemm} with core's {@link dev.starattn.tensor.GemmBackends} as {@code native}. */
public final class NativeGemmProvider implements GemmBackend.Provider {
    @Override
    public String name() {
        return "native";
    }

    @Override
    public GemmBackend open() throws Exception {
        long budget = NativeGemm.parseBytes(Switches.gemmCache());
        return open(budget);
    }

    /** A native GEMM keeping f32 weight copies up to {@code cacheBytes} (0: dequantize per call), for benchmarks. */
    public static GemmBackend open(long cacheBytes) throws Exception {
        return new NativeGemm(OpenBlas.load(), cacheBytes);
    }
}
