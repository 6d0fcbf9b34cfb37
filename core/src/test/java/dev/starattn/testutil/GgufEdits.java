package dev.starattn.testutil;

import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;

/** Edits of GGUF files for tests of the model identity. */
public final class GgufEdits {
    private GgufEdits() {}

    /** A copy of {@code src} with the last byte of its last tensor changed: same header and shapes, one weight differs. */
    public static Path withLastWeightByteChanged(Path src, Path dst) throws IOException {
        long pos;
        try (GgufFile f = GgufFile.open(src)) {
            TensorRef last = f.tensors().stream().max(Comparator.comparingLong(t -> t.data().address())).orElseThrow();
            pos = last.data().address() - f.segment().address() + last.data().byteSize() - 1;
        }
        return withByteFlipped(src, dst, pos);
    }

    /** A copy of {@code src} at {@code dst} with the lowest bit of the byte at {@code pos} flipped. */
    public static Path withByteFlipped(Path src, Path dst, long pos) throws IOException {
        Files.copy(src, dst, StandardCopyOption.REPLACE_EXISTING);
        try (RandomAccessFile r = new RandomAccessFile(dst.toFile(), "rw")) {
            r.seek(pos);
            int b = r.read();
            r.seek(pos);
            r.write(b ^ 1);
        }
        return dst;
    }
}
