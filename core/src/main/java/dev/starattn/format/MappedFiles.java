package dev.starattn.format;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

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

    public static <T> T mapAndParse(Path path, String format, Parser<T> parser) {
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
