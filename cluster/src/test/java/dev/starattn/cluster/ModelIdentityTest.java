package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.format.TensorRef;
import dev.starattn.format.gguf.GgufFile;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.testutil.GgufEdits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The handshake compares every weight byte: one changed byte in the last tensor is refused, a renamed copy is accepted. */
class ModelIdentityTest extends ClusterFixture {

    static Path bigModel;

    /**
     * Large enough (about 5 MB) that 256 slices of 4 KiB leave gaps, so a changed byte can lie
     * where a sampling check never looks.
     */
    @BeforeAll
    static void bigModel() {
        bigModel = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(1024).vocab(8000).seed(3)
                .write(tmp.resolve("big.gguf"));
    }

    /**
     * A copy of {@code src} with one byte of its last tensor changed (same header and shapes), at a
     * place outside 256 evenly spread 4 KiB slices of the file.
     */
    static Path withLastWeightByteChanged(Path src, Path dst) throws IOException {
        long pos = -1, size = Files.size(src);
        try (GgufFile f = GgufFile.open(src)) {
            TensorRef last = f.tensors().stream().max(Comparator.comparingLong(t -> t.data().address())).orElseThrow();
            long start = last.data().address() - f.segment().address();
            for (long p = start + last.data().byteSize() - 1; p >= start && pos < 0; p--) {
                if (!sampled(p, size)) pos = p;
            }
        }
        assertTrue(pos >= 0, "the last tensor has a byte outside the sampled slices");
        return GgufEdits.withByteFlipped(src, dst, pos);
    }

    private static boolean sampled(long p, long size) {
        for (int i = 0; i < 256; i++) {
            long off = (size - 4096) * i / 255;
            if (p >= off && p < off + 4096) return true;
        }
        return false;
    }

    @Test
    void aHostWhoseLastTensorDiffersByOneByteIsRefused() throws IOException {
        Path changed = withLastWeightByteChanged(bigModel, tmp.resolve("one-byte.gguf"));
        HostServer good = host(HostServer.builder(load(bigModel)).port(0));
        HostServer other = host(HostServer.builder(load(changed)).port(0));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> connect(load(bigModel), fast(), good, other));
        String msg = e.getMessage();
        assertTrue(msg.startsWith("context host " + addr(other) + " serves a different model"), msg);
        assertFalse(msg.contains("\n"), msg);
    }

    @Test
    void aHostWithTheSameBytesUnderAnotherNameIsAccepted() throws IOException {
        Path copy = Files.copy(bigModel, tmp.resolve("copy.gguf"));
        HostServer a = host(HostServer.builder(load(copy)).port(0));
        Cluster c = connect(load(bigModel), fast(), a);
        assertEquals(1, c.health().size());
        assertTrue(c.health().get(0).ok(), c.health().get(0).toString());
    }
}
