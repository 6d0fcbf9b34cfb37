package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.format.MappedFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reads the input files that options name ({@code --context-file}, token files, eval's
 * {@code --data}), {@code -} meaning standard input. Whatever is wrong with one is a
 * {@link UsageException} that says what: missing, a directory, a FIFO or device (which would block or
 * never end), permission denied, or not UTF-8 and where.
 */
public final class InputFiles {
    private InputFiles() {}

    /** True for the path {@code -}: standard input. */
    public static boolean isStdin(Path p) {
        return p != null && p.toString().equals("-");
    }

    /** How a sentence names the input: the option and its path, or standard input. */
    public static String describe(Path file, String option) {
        return option + " " + (isStdin(file) ? "- (standard input)" : file.toString());
    }

    /** The whole file, or all of standard input for {@code -}. */
    public static byte[] readBytes(Path file, String option) {
        if (isStdin(file)) return readStdin(option);
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new UsageException(describe(file, option) + " does not exist");
        } catch (AccessDeniedException e) {
            throw new UsageException(describe(file, option) + " cannot be read: permission denied");
        } catch (IOException e) {
            throw new UsageException(describe(file, option) + " cannot be read: " + e.getMessage());
        }
        if (a.isDirectory()) throw new UsageException(describe(file, option) + " is a directory, not a file");
        if (!a.isRegularFile()) {
            throw new UsageException(describe(file, option) + " is " + MappedFiles.kind(file)
                    + ", not a regular file (to read a pipe, give - and pipe it to standard input)");
        }
        try {
            return Files.readAllBytes(file);
        } catch (AccessDeniedException e) {
            throw new UsageException(describe(file, option) + " cannot be read: permission denied");
        } catch (IOException e) {
            throw new UsageException(describe(file, option) + " cannot be read: " + e.getMessage());
        }
    }

    /** The file as UTF-8 text; any byte sequence that is not UTF-8 is an error naming its offset. */
    public static String readText(Path file, String option) {
        return decodeUtf8(readBytes(file, option), describe(file, option));
    }

    /** Strict UTF-8: a malformed sequence is refused with its byte offset, never replaced. */
    static String decodeUtf8(byte[] bytes, String what) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never gives more chars than bytes
        CoderResult r = d.decode(in, out, true);
        if (!r.isError()) r = d.flush(out);
        if (r.isError()) {
            throw new UsageException(String.format("%s is not valid UTF-8: byte 0x%02x at byte offset %d", what,
                    bytes[in.position()] & 0xff, in.position()));
        }
        return out.flip().toString();
    }

    private static byte[] readStdin(String option) {
        InputStream in = System.in;
        try {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UsageException(option + " -: standard input cannot be read: " + e.getMessage());
        }
    }
}
