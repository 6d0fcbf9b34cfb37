package dev.starattn.app.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Reads files of token ids separated by whitespace or commas, checking every id against the vocabulary. */
final class TokenFiles {
    private TokenFiles() {}

    static int[] read(Path file, int vocab) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("file " + file + " does not exist");
        String s = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (s.isEmpty()) return new int[0];
        String[] parts = s.split("[\\s,]+");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + " holds '" + parts[i] + "', which is not a token id");
            }
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException(file + " holds token id " + ids[i] + ", outside the model's vocabulary of " + vocab);
            }
        }
        return Arrays.copyOf(ids, ids.length);
    }
}
