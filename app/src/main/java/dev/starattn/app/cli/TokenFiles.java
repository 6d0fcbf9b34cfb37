package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import java.nio.file.Path;

/** Reads files of token ids separated by whitespace or commas, checking every id against the vocabulary. */
final class TokenFiles {
    private TokenFiles() {}

    /** The file's text ({@code -}: standard input), read before the model loads. */
    static String readText(Path file, String option) {
        return InputFiles.readText(file, option);
    }

    /** The ids in {@code text}, read from {@code file} by {@code option}; each must be below {@code vocab}. */
    static int[] parse(String text, Path file, String option, int vocab) {
        String s = text.trim();
        if (s.isEmpty()) return new int[0];
        String[] parts = s.split("[\\s,]+");
        int[] ids = new int[parts.length];
        String name = InputFiles.describe(file, option);
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new UsageException(name + " holds '" + dev.starattn.format.Printable.escape(parts[i]) + "', which is not a token id");
            }
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new UsageException(name + " holds token id " + ids[i] + ", outside the model's vocabulary of " + vocab);
            }
        }
        return ids;
    }
}
