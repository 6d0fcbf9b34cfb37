package dev.starattn.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.starattn.model.ModelLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A model path that is no regular file or directory is refused before anything opens it: a FIFO would block forever. */
class MappedFilesTest {
    @TempDir Path dir;

    /** A FIFO made by mkfifo; the test is skipped where there is none. */
    static Path fifo(Path dir) throws Exception {
        Path p = dir.resolve("model.fifo");
        try {
            Process proc = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
            Assumptions.assumeTrue(proc.waitFor(5, TimeUnit.SECONDS) && proc.exitValue() == 0, "mkfifo failed");
        } catch (java.io.IOException e) {
            Assumptions.abort("no mkfifo here: " + e.getMessage());
        }
        return p;
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void fifoIsRefusedWithoutOpeningIt() throws Exception {
        Path f = fifo(dir);
        assertEquals("model file " + f + " is a FIFO (named pipe), not a regular file or directory",
                assertThrows(ModelFormatException.class, () -> ModelLoader.load(f)).getMessage());
        assertEquals("file " + f + " is a FIFO (named pipe), not a regular file or directory",
                assertThrows(ModelFormatException.class, () -> MappedFiles.mapAndParse(f, "GGUF", (a, s) -> s)).getMessage());
    }

    @Test
    @Timeout(value = 2, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void deviceIsRefused() {
        Path dev = Path.of("/dev/zero");
        Assumptions.assumeTrue(Files.exists(dev), "no /dev/zero here");
        assertEquals("model file /dev/zero is a character device, not a regular file or directory",
                assertThrows(ModelFormatException.class, () -> ModelLoader.load(dev)).getMessage());
    }

    @Test
    void missingFileSaysSo() {
        Path p = dir.resolve("nope.gguf");
        assertEquals("model file " + p + " does not exist",
                assertThrows(ModelFormatException.class, () -> MappedFiles.requireFileOrDirectory(p, "model file")).getMessage());
    }

    @Test
    void filesAndDirectoriesPass() throws Exception {
        MappedFiles.requireFileOrDirectory(Files.writeString(dir.resolve("x"), "x"), "model file");
        MappedFiles.requireFileOrDirectory(dir, "model file");
    }
}
