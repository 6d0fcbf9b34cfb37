package dev.starattn.blas;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.tensor.GemmBackends;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * {@code @ExtendWith(NativeGemmForced.class)}: the test class runs with OpenBLAS forced on for every
 * product of 2+ tokens (failing if it cannot load), and the defaults come back after it.
 */
public final class NativeGemmForced implements BeforeAllCallback, AfterAllCallback {
    @Override
    public void beforeAll(ExtensionContext context) {
        String d = GemmBackends.select("native");
        assertTrue(d.startsWith("native: OpenBLAS"), d);
        GemmBackends.setMinBatch(2);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        GemmBackends.select("auto");
        GemmBackends.setMinBatch(GemmBackends.DEFAULT_MIN_BATCH);
    }
}
