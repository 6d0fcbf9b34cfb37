package dev.starattn.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.format.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

/**
 * A model's identity from its content: every byte of every file the loader reads (the whole GGUF
 * file, which holds the metadata, tokenizer and every tensor; or a Hugging Face directory's
 * safetensors shards, config.json, tokenizer.json and tokenizer_config.json). Block cache keys,
 * the cluster handshake and evaluation result stores use it, so two files that differ in a
 * single weight byte never share cached KV or serve one query.
 *
 * <p>The tokenizer files are part of it although block KV is keyed by token ids: the same weights
 * with another tokenizer answer the same text differently (evaluation stores key by text), and a
 * context host must agree with the query host on the model as the loader built it.
 *
 * <p>Each file is hashed over its memory map, in 16 MiB chunks (xxHash64 of each chunk, in
 * parallel, then an xxHash64 of the size and the chunk hashes), so nothing is copied to the heap.
 * The result is remembered in a small JSON file keyed by (real path, size, modification and
 * change time, file key such as the inode), so a second run reads nothing; a changed file is
 * hashed again, and an unreadable or corrupt cache file is ignored and rewritten. xxHash64 is
 * not a cryptographic hash: it tells apart files that differ by accident (a fine-tune, a
 * re-quantisation, a corrupt copy), not files crafted to collide.
 */
public final class ModelHash {
    static final String CACHE_FILE = "model-hashes.json";
    static final int CHUNK = 16 << 20;
    private static final String FORMAT = "starattn-model-hashes";
    private static final int VERSION = 1;
    private static final int MAX_ENTRIES = 512;
    private static final long QUIET_NANOS = 1_500_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final XXHash64 XX = XXHashFactory.fastestInstance().hash64();

    /** One file of a model, under the name it has in the identity (not its path, so renamed copies match). */
    public record Part(String label, Path file) {}

    private final List<Part> parts;
    private String identity;

    public ModelHash(List<Part> parts) {
        if (parts.isEmpty()) throw new IllegalArgumentException("a model has at least one file");
        this.parts = List.copyOf(parts);
    }

    /** A GGUF file: the whole file. */
    public static ModelHash ofGguf(Path file) {
        return new ModelHash(List.of(new Part("gguf", file)));
    }

    public List<Part> parts() {
        return parts;
    }

    /**
     * The identity (32 hex digits), computed on first use: cached per file in {@code cacheDir}
     * (null: the per-user cache directory), with progress and warnings to {@code messages}.
     */
    public synchronized String identity(Path cacheDir, Consumer<String> messages) {
        if (identity == null) {
            Path dir = cacheDir != null ? cacheDir : defaultCacheDir();
            HashCache cache = new HashCache(dir == null ? null : dir.resolve(CACHE_FILE), messages);
            StringBuilder text = new StringBuilder("starattn-model-content-v1\n");
            for (Part p : parts) {
                FileHash h = cache.hash(p.file());
                text.append(p.label()).append('\t').append(h.size()).append('\t').append(h.hash()).append('\n');
            }
            cache.save();
            identity = HexFormat.of().formatHex(sha256(text.toString().getBytes(StandardCharsets.UTF_8))).substring(0, 32);
        }
        return identity;
    }

    /** {@code $starattn.cache.home}, else {@code $XDG_CACHE_HOME/starattn}, else {@code ~/.cache/starattn}; null if none is usable. */
    public static Path defaultCacheDir() {
        try {
            String p = dev.starattn.config.Switches.cacheHome();
            if (p != null && !p.isBlank()) return Path.of(p);
            String xdg = System.getenv("XDG_CACHE_HOME");
            if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) return Path.of(xdg, "starattn");
            String home = System.getProperty("user.home");
            return home == null || home.isBlank() ? null : Path.of(home, ".cache", "starattn");
        } catch (InvalidPathException e) {
            return null;
        }
    }

    record FileHash(long size, String hash) {}

    /** The xxHash64-tree of a file's bytes (16 hex digits), read through a memory map. */
    static String hashFile(Path file, long size, Consumer<String> messages) throws IOException {
        int chunks = (int) ((size + CHUNK - 1) / CHUNK);
        long[] chunkHashes = new long[chunks];
        if (chunks > 0) {
            Progress progress = new Progress(file, size, messages);
            try (Arena arena = Arena.ofShared(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                IntStream.range(0, chunks).parallel().forEach(i -> {
                    long off = (long) i * CHUNK;
                    int len = (int) Math.min(CHUNK, size - off);
                    chunkHashes[i] = XX.hash(seg.asSlice(off, len).asByteBuffer(), 0, len, 0);
                    progress.add(len);
                });
            }
            progress.finish();
        }
        ByteBuffer b = ByteBuffer.allocate(8 + 8 * chunks).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(size);
        for (long h : chunkHashes) b.putLong(h);
        return HexFormat.of().toHexDigits(XX.hash(b.array(), 0, b.capacity(), 0));
    }

    /** Prints a per-file percentage once hashing has taken more than a moment. */
    private static final class Progress {
        private final Path file;
        private final long size;
        private final Consumer<String> out;
        private final long start = System.nanoTime();
        private final AtomicLong done = new AtomicLong();
        private int lastPercent = -1;
        private boolean printed;

        Progress(Path file, long size, Consumer<String> out) {
            this.file = file;
            this.size = size;
            this.out = out;
        }

        void add(long bytes) {
            long d = done.addAndGet(bytes);
            if (System.nanoTime() - start < QUIET_NANOS) return;
            int pct = (int) (100 * d / size);
            synchronized (this) {
                if (pct / 10 > lastPercent / 10 || !printed) {
                    lastPercent = pct;
                    printed = true;
                    out.accept(String.format("hashing %s for the model identity: %d%% of %.1f GB", file.getFileName(), pct, size / 1e9));
                }
            }
        }

        synchronized void finish() {
            if (printed) {
                out.accept(String.format("hashed %s (%.1f GB) in %.1f s; later runs reuse the result",
                        file.getFileName(), size / 1e9, (System.nanoTime() - start) / 1e9));
            }
        }
    }

    /** The per-file results kept on disk; a missing, unreadable or corrupt file is an empty cache. */
    static final class HashCache {
        private final Path file;
        private final Consumer<String> messages;
        private final Map<String, ObjectNode> entries = new LinkedHashMap<>();
        private final List<ObjectNode> added = new ArrayList<>();

        HashCache(Path file, Consumer<String> messages) {
            this.file = file;
            this.messages = messages;
            if (file != null) entries.putAll(read(file, true));
        }

        private Map<String, ObjectNode> read(Path f, boolean warn) {
            Map<String, ObjectNode> out = new LinkedHashMap<>();
            if (!Files.exists(f)) return out;
            try {
                JsonNode root = JSON.readTree(f.toFile());
                if (root == null || !FORMAT.equals(root.path("format").asText()) || root.path("version").asInt() != VERSION
                        || !root.path("files").isArray()) {
                    throw new IOException("not a " + FORMAT + " v" + VERSION + " file");
                }
                for (JsonNode e : root.get("files")) {
                    if (e.isObject() && e.path("path").isTextual() && e.path("hash").asText("").matches("[0-9a-f]{16}")) {
                        out.put(e.get("path").asText(), (ObjectNode) e);
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (warn) messages.accept("ignoring the model hash cache " + f + " (" + e.getMessage() + "); it is rewritten");
                out.clear();
            }
            return out;
        }

        FileHash hash(Path f) {
            try {
                Path real = f.toRealPath();
                ObjectNode stamp = stamp(real);
                ObjectNode e = entries.get(real.toString());
                if (e != null && sameStamp(e, stamp)) return new FileHash(e.get("size").asLong(), e.get("hash").asText());
                long size = stamp.get("size").asLong();
                String h = hashFile(real, size, messages);
                if (!sameStamp(stamp, stamp(real))) {
                    throw new ModelFormatException("model file " + real + " changed while it was being hashed; run again once it is complete");
                }
                ObjectNode n = stamp.put("path", real.toString()).put("hash", h);
                entries.remove(real.toString());
                entries.put(real.toString(), n);
                added.add(n);
                return new FileHash(size, h);
            } catch (IOException e) {
                throw new ModelFormatException("cannot read model file " + f + " to compute its identity: " + e.getMessage(), e);
            }
        }

        private static ObjectNode stamp(Path real) throws IOException {
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            ObjectNode n = JSON.createObjectNode();
            n.put("size", a.size()).put("mtime", a.lastModifiedTime().toString())
                    .put("fileKey", String.valueOf(a.fileKey()));
            try {
                // An in-place rewrite that restores the modification time still changes ctime.
                n.put("ctime", String.valueOf(Files.getAttribute(real, "unix:ctime")));
            } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
                n.put("ctime", "");
            }
            return n;
        }

        private static boolean sameStamp(JsonNode a, JsonNode b) {
            for (String k : List.of("size", "mtime", "fileKey", "ctime")) {
                if (!a.path(k).asText("\0").equals(b.path(k).asText("\1"))) return false;
            }
            return true;
        }

        /** Writes new results, merged with what other processes wrote meanwhile (temp file, then rename). */
        void save() {
            if (file == null || added.isEmpty()) return;
            Path tmp = null;
            try {
                Files.createDirectories(file.getParent());
                Map<String, ObjectNode> merged = read(file, false);
                for (ObjectNode n : added) {
                    merged.remove(n.get("path").asText());
                    merged.put(n.get("path").asText(), n);
                }
                List<ObjectNode> keep = new ArrayList<>(merged.values());
                if (keep.size() > MAX_ENTRIES) keep = keep.subList(keep.size() - MAX_ENTRIES, keep.size());
                ObjectNode root = JSON.createObjectNode().put("format", FORMAT).put("version", VERSION);
                ArrayNode arr = root.putArray("files");
                keep.forEach(arr::add);
                tmp = file.resolveSibling(file.getFileName() + "." + ProcessHandle.current().pid() + "-"
                        + Thread.currentThread().threadId() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
                Files.write(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root), StandardOpenOption.CREATE_NEW);
                try {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
                added.clear();
            } catch (IOException | RuntimeException e) {
                messages.accept("cannot write the model hash cache " + file + " (" + e.getMessage() + "); the next run hashes the model again");
                if (tmp != null) {
                    try {
                        Files.deleteIfExists(tmp);
                    } catch (IOException ignored) {
                        // nothing more to do
                    }
                }
            }
        }
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
