package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.starattn.model.LoadedModel;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPU against CPU. Every test here SKIPS on a machine without an NVIDIA GPU and driver. */
class CudaGpuTest {
    static CudaDevice dev;

    @BeforeAll
    static void open() {
        if (CudaDevice.unavailableReason() == null) dev = CudaDevice.open(0);
    }

    @AfterAll
    static void close() {
        if (dev != null) dev.close();
    }

    private static CudaSelfCheck check() {
        assumeTrue(dev != null, () -> "no GPU: " + CudaDevice.unavailableReason());
        return new CudaSelfCheck(dev);
    }

    private static void assertAllOk(CudaSelfCheck s) {
        assertFalse(s.results().isEmpty());
        for (CudaSelfCheck.Result r : s.results()) assertTrue(r.ok(), r::toString);
    }

    @Test
    void noGpuGivesAClearError() {
        assumeTrue(CudaDevice.unavailableReason() != null, "a GPU is present");
        CudaException e = assertThrows(CudaException.class, () -> CudaDevice.open(0));
        assertTrue(e.getMessage().contains("--device cpu") || e.getMessage().contains("GPU"), e.getMessage());
    }

    @Test
    void kernelImageShipsInTheJar() {
        assertTrue(CudaDevice.kernelImage().length > 1000);
    }

    @Test
    void attentionAndMergeMatchTheCpu() {
        CudaSelfCheck s = check();
        new KernelChecks(s).attention();
        assertAllOk(s);
    }

    @Test
    void q8DequantMatchesTheCpu() {
        CudaSelfCheck s = check();
        new KernelChecks(s).q8();
        assertAllOk(s);
    }

    @Test
    void logitsAndStarHostMatchTheCpu(@TempDir Path tmp) {
        CudaSelfCheck s = check();
        try (LoadedModel m = SelfCheckData.randomModel(tmp, "llama", 128, 2, 4, 2, 256, 600, GgmlType.F32)) {
            new ModelChecks(s).model("llama small", m.model(), 70, 2, 32, 5e-2);
            new StarGpuChecks(s).star(m.model(), 5e-2);
        }
        assertAllOk(s);
    }

    @Test
    void starWithTheQueryHostOnAGpuMatchesTheCpu(@TempDir Path tmp) {
        CudaSelfCheck s = check();
        try (LoadedModel m = SelfCheckData.randomModel(tmp, "llama", 128, 2, 4, 2, 256, 600, GgmlType.F32)) {
            new StarGpuChecks(s).starOnGpus(m.model(), 300, 5e-2);
        }
        assertAllOk(s);
    }

    @Test
    void starPassOnGpusMatchesTheCpu(@TempDir Path tmp) {
        CudaSelfCheck s = check();
        try (LoadedModel m = SelfCheckData.randomModel(tmp, "llama", 256, 2, 2, 1, 512, 600, GgmlType.F32)) {  // head dim 128
            new StarPassGpuCheck(s).run(m.model(), 600, 16, 5e-2);
        }
        assertAllOk(s);
    }

    @Test
    void ringOnGpusEqualsDenseOnTheCpu(@TempDir Path tmp) {
        CudaSelfCheck s = check();
        try (LoadedModel m = SelfCheckData.randomModel(tmp, "llama", 256, 2, 2, 1, 512, 600, GgmlType.F32)) {  // head dim 128
            new RingGpuCheck(s).ringOnGpus(m.model(), 200, 5e-2);
        }
        assertAllOk(s);
    }
}
