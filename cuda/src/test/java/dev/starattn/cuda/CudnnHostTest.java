package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host-side parts of the cuDNN path (no GPU, no cuDNN needed). */
class CudnnHostTest {
    @Test
    void cudnnVersionFromTheSonameTargetOrTheWheel(@TempDir Path dir) throws Exception {
        Path sys = Files.createDirectories(dir.resolve("usr/lib"));
        Files.writeString(sys.resolve("libcudnn.so.9.14.0"), "");
        Files.createSymbolicLink(sys.resolve("libcudnn.so.9"), sys.resolve("libcudnn.so.9.14.0"));
        assertEquals(91400, NativeLibs.cudnnVersionOf(sys.resolve("libcudnn.so.9")));

        Path site = dir.resolve("venv/lib/python3.12/site-packages");
        Path wheel = Files.createDirectories(site.resolve("nvidia/cudnn/lib"));
        Files.writeString(wheel.resolve("libcudnn.so.9"), "");
        Files.createDirectories(site.resolve("nvidia_cudnn_cu13-9.19.0.56.dist-info"));
        assertEquals(91900, NativeLibs.cudnnVersionOf(wheel.resolve("libcudnn.so.9")));

        Path bare = Files.createDirectories(dir.resolve("bare/a/b/c"));
        Files.writeString(bare.resolve("libcudnn.so.9"), "");
        assertEquals(0, NativeLibs.cudnnVersionOf(bare.resolve("libcudnn.so.9")));
        assertEquals("9.14.0", Cudnn.versionString(91400));
    }

    @Test
    void enumNamesAreDistinctAndTheirValuesMatchTheConstants() {
        Set<String> names = new HashSet<>();
        for (Object[] e : Cudnn.HEADER_NAMES) {
            assertTrue(names.add((String) e[0]), "twice: " + e[0]);
            assertTrue(((String) e[0]).startsWith("CUDNN_"));
        }
        // A few values as cuDNN 9's cudnn_graph.h has them (the full list is checked against the header on the GPU machine).
        assertEquals(1520, Cudnn.ATTR_OPERATION_MATMUL_ADESC);
        assertEquals(601, Cudnn.PW_BINARY_SELECT);
        assertEquals(17, Cudnn.TENSOR_DESCRIPTOR);
        assertEquals(15, Cudnn.TYPE_BACKEND_DESCRIPTOR);
    }

    @Test
    void strictlyAscendingPositions() {
        assertFalse(DeviceKv.strictlyAscending(new int[] {0, 1, 1}, 0, 3));
        assertTrue(DeviceKv.strictlyAscending(new int[] {0, 1, 5000, 5001}, 0, 4));
        assertFalse(DeviceKv.strictlyAscending(new int[] {0, 2, 1}, 0, 3));
        assertTrue(DeviceKv.strictlyAscending(new int[] {0, 2, 1}, 2, 3));
        assertTrue(DeviceKv.strictlyAscending(new int[] {}, 0, 0));
    }
}
