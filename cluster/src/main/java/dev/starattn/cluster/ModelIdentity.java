package dev.starattn.cluster;

import dev.starattn.model.LoadedModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a query host and its context hosts compare before working together: the model's own
 * fingerprint (a hash of the file's metadata and tensor table) plus a hash of samples of the weight
 * bytes (256 slices of 4 KiB spread over each file), so that two files with the same shapes but
 * different weights (fine-tunes, re-quantisations) are told apart without reading gigabytes.
 */
public final class ModelIdentity {
    private static final int SAMPLES = 256;
    private static final int SLICE = 4096;

    private ModelIdentity() {}

    public static String of(LoadedModel m) {
        return m.fingerprint() + "-" + sampleHash(m.path());
    }

    static String sampleHash(Path path) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            List<Path> files;
            if (Files.isDirectory(path)) {
                try (Stream<Path> s = Files.list(path)) {
                    files = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
                }
            } else {
                files = List.of(path);
            }
            ByteBuffer buf = ByteBuffer.allocate(SLICE);
            for (Path f : files) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                    long size = ch.size();
                    md.update(ByteBuffer.allocate(8).putLong(0, size));
                    for (int i = 0; i < SAMPLES; i++) {
                        long off = size <= SLICE ? 0 : (size - SLICE) * i / (SAMPLES - 1);
                        buf.clear();
                        while (buf.hasRemaining() && ch.read(buf, off + buf.position()) > 0) {
                            // read the slice fully
                        }
                        buf.flip();
                        md.update(buf);
                        if (size <= SLICE) break;
                    }
                }
            }
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read model " + path + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
