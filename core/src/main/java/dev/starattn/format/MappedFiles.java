package dev.starattn.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Maps a model file read-only into a shared arena and hands it to a parser; any failure closes
 * the arena and becomes a {@link ModelFormatException} naming the file (the parser's own
 * ModelFormatExceptions pass through unchanged).
 */
public final class MappedFiles {
    private MappedFiles() {}

    /** Builds the parsed file from the mapping; it owns the arena once it returns. */
    @FunctionalInterface
    public interface Parser<T> {
        T parse(Arena arena, MemorySegment segment) throws IOException;
    }

    /**
     * Refuses a path that is neither a regular file nor a directory, before anything opens it:
     * opening a FIFO blocks until some other process writes to it, and a device never ends.
     * {@code what} names the path in the sentence ("model file").
     */
    public static void requireFileOrDirectory(Path path, String what) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(what + " " + path + " does not exist");
        } catch (IOException e) {
            throw new ModelFormatException("cannot read " + what + " " + path + ": " + e.getMessage());
        }
        if (attrs.isRegularFile() || attrs.isDirectory()) return;
        throw new ModelFormatException(what + " " + path + " is " + kind(path) + ", not a regular file or directory");
    }

    /** "a FIFO (named pipe)", "a character device", ...: what a path that is no file or directory is. */
    public static String kind(Path path) {
        try {
            int type = ((Integer) Files.getAttribute(path, "unix:mode")) & 0170000;
            return switch (type) {
                case 0010000 -> "a FIFO (named pipe)";
                case 0020000 -> "a character device";
                case 0060000 -> "a block device";
                case 0140000 -> "a socket";
                default -> "a special file";
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return "a special file";
        }
    }

    public static <T> T mapAndParse(Path path, String format, Parser<T> parser) {
        requireFileOrDirectory(path, "file");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment seg = size == 0 ? MemorySegment.ofArray(new byte[0]) : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parser.parse(arena, seg);
        } catch (ModelFormatException e) {
            arena.close();
            throw e;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFormatException(path + " does not exist.", e);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException("Cannot read " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw new ModelFormatException(path + " is corrupt and cannot be read as " + format + " (" + e + ").", e);
        }
    }
}
