package dev.starattn.engine;

import dev.starattn.attention.KvCache;
import dev.starattn.attention.KvType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * A content-addressed cache of star phase-1 block KV. The phase-1 KV of a block depends only on
 * (model, anchor tokens and positions, block tokens, block positions, KV types), so it is keyed by
 * a SHA-256 of exactly those (see {@link #key}); a context that shares blocks with an earlier one
 * reuses them and only the missing blocks are encoded.
 *
 * <p>Two tiers: memory (LRU within a byte budget) and, optionally, a directory of block files
 * (LRU by last use within its own byte budget, written when a block is stored, read through a
 * memory map after a restart). A file carries a versioned header (magic, format version, model
 * fingerprint, key hash, KV types, shape, block start and anchor length, payload length, a CRC32C
 * of the header) and a CRC32C of the payload; a truncated, corrupt or foreign file is reported
 * through the warning sink, deleted, and counted as a miss, so the block is encoded again.
 *
 * <p>One instance serves any number of in-process hosts (they share the JVM's memory); each host
 * counts its own hits and misses in {@link HostStats}, this object counts totals in {@link #stats()}.
 * Thread-safe.
 */
public final class BlockCache {
    static final int MAGIC = 0x564B5453; // "STKV" little-endian
    static final int FORMAT_VERSION = 1;
    static final String SUFFIX = ".stkv";
    private static final int MAX_FINGERPRINT = 4096;
    static final String PART = ".part";
    private static final long STALE_TEMP_MILLIS = 3_600_000;
    private static final java.util.concurrent.atomic.AtomicLong TEMP_COUNTER = new java.util.concurrent.atomic.AtomicLong();

    /** Totals since this cache was made (for /metrics). */
    public record Stats(long hits, long memoryHits, long diskHits, long misses, long stores, long memoryEvictions,
                        long diskEvictions, long rejectedFiles, long memoryBytes, long memoryEntries, long diskBytes,
                        long diskFiles) {}

    private final String fingerprint;
    private final long memoryBudget;
    private final Path dir;
    private final long diskBudget;
    private final Consumer<String> warnings;
    private final LinkedHashMap<String, KvCache[]> memory = new LinkedHashMap<>(16, 0.75f, true);
    private final LinkedHashMap<String, Long> disk = new LinkedHashMap<>(16, 0.75f, true);
    private long memoryBytes, diskBytes;
    private long hits, memoryHits, diskHits, misses, stores, memoryEvictions, diskEvictions, rejected;

    /** A memory-only cache. */
    public BlockCache(String modelFingerprint, long memoryBudgetBytes) {
        this(modelFingerprint, memoryBudgetBytes, null, 0, BlockCache::warnToStderr);
    }

    /**
     * A cache for the model with this fingerprint, {@code memoryBudgetBytes} of KV in memory and,
     * when {@code dir} is not null, up to {@code diskBudgetBytes} of block files there.
     */
    public BlockCache(String modelFingerprint, long memoryBudgetBytes, Path dir, long diskBudgetBytes) {
        this(modelFingerprint, memoryBudgetBytes, dir, diskBudgetBytes, BlockCache::warnToStderr);
    }

    public BlockCache(String modelFingerprint, long memoryBudgetBytes, Path dir, long diskBudgetBytes, Consumer<String> warnings) {
        if (modelFingerprint == null || modelFingerprint.isEmpty()) throw new IllegalArgumentException("the block cache needs a model fingerprint");
        if (modelFingerprint.getBytes(StandardCharsets.UTF_8).length > MAX_FINGERPRINT) throw new IllegalArgumentException("model fingerprint too long");
        if (memoryBudgetBytes < 0 || diskBudgetBytes < 0) throw new IllegalArgumentException("cache budgets must be 0 or more");
        this.fingerprint = modelFingerprint;
        this.memoryBudget = memoryBudgetBytes;
        this.dir = dir;
        this.diskBudget = diskBudgetBytes;
        this.warnings = warnings;
        if (dir != null) scanDirectory();
    }

    private static void warnToStderr(String message) {
        System.err.println("warning: " + message);
    }

    public String fingerprint() {
        return fingerprint;
    }

    public Path directory() {
        return dir;
    }

    /** The key of a block: a hex SHA-256 over everything its phase-1 KV depends on. */
    public String key(BlockTask b, KvType keyType, KvType valueType) {
        return key(fingerprint, b, keyType, valueType);
    }

    public static String key(String fingerprint, BlockTask b, KvType keyType, KvType valueType) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buf = ByteBuffer.allocate(4 * (8 + b.tokens().length * 2 + b.anchorTokens().length * 2)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] fp = fingerprint.getBytes(StandardCharsets.UTF_8);
        md.update(("starattn-block-v" + FORMAT_VERSION + "\0").getBytes(StandardCharsets.UTF_8));
        buf.putInt(fp.length);
        md.update(buf.array(), 0, 4);
        md.update(fp);
        buf.clear();
        buf.putInt(keyType.id).putInt(valueType.id);
        putArray(buf, b.anchorTokens());
        putArray(buf, b.anchorPositions());
        putArray(buf, b.tokens());
        putArray(buf, b.positions());
        md.update(buf.array(), 0, buf.position());
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * The key of a star-pass block: its own key ({@link #key}) chained to {@code previous}, the key of the block
     * before it in the context ("" for the first), and the rule the rows are chosen by, since the rows every earlier
     * block passes shape its KV. The entry holds the block's rows, then the rows it passes.
     */
    public String passKey(String previous, BlockTask b, EncodeTask.PassRule rule, KvType keyType, KvType valueType) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String head = "starattn-pass-v1\0" + previous + "\0" + rule.tokens() + "," + rule.window() + "," + rule.skipBelow() + "\0";
        md.update(head.getBytes(StandardCharsets.UTF_8));
        md.update(key(b, keyType, valueType).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(md.digest());
    }

    private static void putArray(ByteBuffer buf, int[] a) {
        buf.putInt(a.length);
        for (int x : a) buf.putInt(x);
    }

    /** True when the block is held in memory or on disk (without checking the file). */
    public synchronized boolean contains(String key) {
        return memory.containsKey(key) || disk.containsKey(key);
    }

    /**
     * The block's per-layer KV (read-only: copy from it, never append to it), or null on a miss.
     * The shape and types are checked against what the caller expects; a file that does not match
     * is rejected.
     */
    public synchronized KvCache[] get(String key, int layers, int kvHeads, int headDim, KvType keyType, KvType valueType) {
        KvCache[] m = memory.get(key);
        if (m != null && m.length == layers && m[0].kvHeads() == kvHeads && m[0].headDim() == headDim
                && m[0].keyType() == keyType && m[0].valueType() == valueType) {
            hits++;
            memoryHits++;
            touch(key);
            return m;
        }
        if (dir != null && disk.containsKey(key)) {
            KvCache[] d = readFile(key, layers, kvHeads, headDim, keyType, valueType);
            if (d != null) {
                hits++;
                diskHits++;
                touch(key);
                putMemory(key, d);
                return d;
            }
        }
        misses++;
        return null;
    }

    /** Stores a block's per-layer KV (this cache keeps the arrays: do not change them afterwards). */
    public synchronized void put(String key, KvCache[] layers) {
        stores++;
        putMemory(key, layers);
        if (dir != null) writeFile(key, layers);
    }

    public synchronized Stats stats() {
        return new Stats(hits, memoryHits, diskHits, misses, stores, memoryEvictions, diskEvictions, rejected,
                memoryBytes, memory.size(), diskBytes, disk.size());
    }

    /** Drops everything held in memory (the files stay). */
    public synchronized void clearMemory() {
        memory.clear();
        memoryBytes = 0;
    }

    private static long bytes(KvCache[] layers) {
        long b = 0;
        for (KvCache k : layers) b += k.bytes() + 4L * k.size();
        return b;
    }

    private void putMemory(String key, KvCache[] layers) {
        long b = bytes(layers);
        KvCache[] old = memory.remove(key);
        if (old != null) memoryBytes -= bytes(old);
        if (b > memoryBudget) return; // larger than the whole budget: disk only
        memory.put(key, layers);
        memoryBytes += b;
        Iterator<Map.Entry<String, KvCache[]>> it = memory.entrySet().iterator();
        while (memoryBytes > memoryBudget && it.hasNext()) {
            Map.Entry<String, KvCache[]> e = it.next();
            if (e.getKey().equals(key)) continue;
            memoryBytes -= bytes(e.getValue());
            it.remove();
            memoryEvictions++;
        }
    }

    // ---- disk tier ----

    private Path file(String key) {
        return dir.resolve(key + SUFFIX);
    }

    private void touch(String key) {
        if (dir == null || !disk.containsKey(key)) return;
        disk.get(key); // access order
        try {
            Files.setLastModifiedTime(file(key), FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException ignored) {
            // the order in memory still holds; the next restart sees an older time
        }
    }

    private void scanDirectory() {
        try {
            Files.createDirectories(dir);
            record F(String key, long size, long time) {}
            List<F> files = new ArrayList<>();
            try (var s = Files.list(dir)) {
                for (Path p : (Iterable<Path>) s::iterator) {
                    String name = p.getFileName().toString();
                    if (name.endsWith(PART)) {
                        if (abandoned(name, p)) Files.deleteIfExists(p); // a write that did not finish
                        continue;
                    }
                    if (!name.endsWith(SUFFIX) || !Files.isRegularFile(p)) continue;
                    String key = name.substring(0, name.length() - SUFFIX.length());
                    if (!key.matches("[0-9a-f]{64}")) continue;
                    files.add(new F(key, Files.size(p), Files.getLastModifiedTime(p).toMillis()));
                }
            }
            files.sort(java.util.Comparator.comparingLong(F::time));
            for (F f : files) {
                disk.put(f.key(), f.size());
                diskBytes += f.size();
            }
            evictDisk(null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot use the block cache directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * A temp file name no other writer uses: processes sharing the directory can have threads with
     * the same id, so the name carries the process id, the thread id and a per-process counter.
     */
    static String tempName(String key) {
        return key + "." + ProcessHandle.current().pid() + "-" + Thread.currentThread().threadId() + "-"
                + TEMP_COUNTER.incrementAndGet() + PART;
    }

    /**
     * Whether a temp file is left over from a write that cannot finish: its process is gone, or it
     * is older than any write takes. Another live process's temp file is left alone, so opening a
     * shared directory never breaks a write in progress.
     */
    static boolean abandoned(String name, Path p) throws IOException {
        long age = System.currentTimeMillis() - Files.getLastModifiedTime(p).toMillis();
        if (age > STALE_TEMP_MILLIS) return true;
        String[] parts = name.substring(0, name.length() - PART.length()).split("\\.");
        if (parts.length != 2) return true;
        String pid = parts[1].split("-")[0];
        try {
            return ProcessHandle.of(Long.parseLong(pid)).isEmpty();
        } catch (NumberFormatException e) {
            return true;
        }
    }

    private void evictDisk(String keep) {
        Iterator<Map.Entry<String, Long>> it = disk.entrySet().iterator();
        while (diskBytes > diskBudget && it.hasNext()) {
            Map.Entry<String, Long> e = it.next();
            if (e.getKey().equals(keep)) continue;
            try {
                Files.deleteIfExists(file(e.getKey()));
            } catch (IOException ex) {
                warnings.accept("block cache: cannot delete " + file(e.getKey()) + ": " + ex.getMessage());
            }
            diskBytes -= e.getValue();
            it.remove();
            diskEvictions++;
        }
    }

    private void forget(String key) {
        Long size = disk.remove(key);
        if (size != null) diskBytes -= size;
    }

    private void writeFile(String key, KvCache[] layers) {
        KvCache first = layers[0];
        int rows = first.size();
        long payloadLen = 0;
        for (KvCache k : layers) payloadLen += KvCache.serializedBytes(k.kvHeads(), k.headDim(), k.keyType(), k.valueType(), rows);
        if (payloadLen > Integer.MAX_VALUE - 1024) return; // too large for one file; memory only
        ByteBuffer payload = ByteBuffer.allocate((int) payloadLen).order(ByteOrder.LITTLE_ENDIAN);
        for (KvCache k : layers) k.save(payload);
        payload.flip();
        CRC32C crc = new CRC32C();
        crc.update(payload.duplicate());
        ByteBuffer header = header(key, first, layers.length, rows, payloadLen, (int) crc.getValue());
        if (header.remaining() + payloadLen > diskBudget) return; // larger than the whole budget
        Path tmp = dir.resolve(tempName(key));
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                while (header.hasRemaining()) ch.write(header);
                while (payload.hasRemaining()) ch.write(payload);
            }
            Files.move(tmp, file(key), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            forget(key);
            long size = Files.size(file(key));
            disk.put(key, size);
            diskBytes += size;
            evictDisk(key);
        } catch (IOException e) {
            warnings.accept("block cache: cannot write " + file(key) + " (" + e.getMessage() + "); the block stays in memory only");
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    /**
     * Header, little-endian: magic, format version, header length, fingerprint (length + UTF-8),
     * key (32 bytes), key type id, value type id, layers, kv heads, head dim, rows, block start
     * position, payload length (long), payload CRC32C, then a CRC32C of all header bytes before it.
     */
    private ByteBuffer header(String key, KvCache first, int layers, int rows, long payloadLen, int payloadCrc) {
        byte[] fp = fingerprint.getBytes(StandardCharsets.UTF_8);
        int len = 4 * 3 + 4 + fp.length + 32 + 4 * 7 + 8 + 4 + 4;
        ByteBuffer h = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(MAGIC).putInt(FORMAT_VERSION).putInt(len);
        h.putInt(fp.length).put(fp);
        h.put(HexFormat.of().parseHex(key));
        h.putInt(first.keyType().id).putInt(first.valueType().id);
        h.putInt(layers).putInt(first.kvHeads()).putInt(first.headDim()).putInt(rows);
        h.putInt(rows == 0 ? 0 : first.positions()[0]);
        h.putLong(payloadLen).putInt(payloadCrc);
        CRC32C c = new CRC32C();
        c.update(h.array(), 0, h.position());
        h.putInt((int) c.getValue());
        h.flip();
        return h;
    }

    private KvCache[] readFile(String key, int layers, int kvHeads, int headDim, KvType keyType, KvType valueType) {
        Path f = file(key);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            long size = ch.size();
            MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            map.order(ByteOrder.LITTLE_ENDIAN);
            String why = check(map, size, key, layers, kvHeads, headDim, keyType, valueType);
            if (why == null) {
                KvCache[] out = new KvCache[layers];
                int rows = map.getInt(map.position() - 4 - 4 - 8 - 4 - 4);
                for (int l = 0; l < layers; l++) out[l] = KvCache.load(map, kvHeads, headDim, keyType, valueType, rows);
                return out;
            }
            reject(key, f, why);
        } catch (IOException | RuntimeException e) {
            reject(key, f, "unreadable (" + e.getMessage() + ")");
        }
        return null;
    }

    private void reject(String key, Path f, String why) {
        rejected++;
        warnings.accept("block cache: ignoring " + f + ": " + why + "; the block is encoded again");
        forget(key);
        memory.remove(key);
        try {
            Files.deleteIfExists(f);
        } catch (IOException ignored) {
            // it is out of the index; a later write replaces it
        }
    }

    /** Checks the header and the payload; leaves {@code b} at the payload. Returns why the file is bad, or null. */
    private String check(ByteBuffer b, long size, String key, int layers, int kvHeads, int headDim, KvType keyType, KvType valueType) {
        if (size < 16) return "truncated (" + size + " bytes)";
        if (b.getInt() != MAGIC) return "not a block cache file (bad magic)";
        int version = b.getInt();
        if (version != FORMAT_VERSION) return "format version " + version + ", this build reads " + FORMAT_VERSION;
        int headerLen = b.getInt();
        if (headerLen < 16 || headerLen > size) return "truncated or corrupt header (length " + headerLen + " in a file of " + size + " bytes)";
        CRC32C c = new CRC32C();
        c.update(b.duplicate().position(0).limit(headerLen - 4));
        if ((int) c.getValue() != b.getInt(headerLen - 4)) return "header checksum mismatch (corrupt)";
        int fpLen = b.getInt();
        if (fpLen < 0 || fpLen > MAX_FINGERPRINT || b.position() + fpLen + 32 > headerLen) return "corrupt header";
        byte[] fp = new byte[fpLen];
        b.get(fp);
        String fileFp = new String(fp, StandardCharsets.UTF_8);
        if (!fileFp.equals(fingerprint)) return "written for another model (fingerprint " + fileFp + ", this model is " + fingerprint + ")";
        byte[] k = new byte[32];
        b.get(k);
        if (!HexFormat.of().formatHex(k).equals(key)) return "holds another block (key mismatch)";
        int kt = b.getInt(), vt = b.getInt();
        if (kt != keyType.id || vt != valueType.id) return "KV types differ";
        int fl = b.getInt(), fh = b.getInt(), fd = b.getInt(), rows = b.getInt();
        if (fl != layers || fh != kvHeads || fd != headDim) return "shape " + fl + "x" + fh + "x" + fd + " differs from the model's";
        b.getInt(); // block start
        long payloadLen = b.getLong();
        int payloadCrc = b.getInt();
        b.getInt(); // header crc, checked above
        if (b.position() != headerLen) return "corrupt header (length)";
        if (rows < 0) return "corrupt header (rows)";
        long want = (long) layers * KvCache.serializedBytes(kvHeads, headDim, keyType, valueType, rows);
        if (payloadLen != want) return "corrupt header (payload length " + payloadLen + ", shape says " + want + ")";
        if (size - headerLen != payloadLen) return "truncated (" + (size - headerLen) + " of " + payloadLen + " payload bytes)";
        CRC32C pc = new CRC32C();
        pc.update(b.duplicate());
        if ((int) pc.getValue() != payloadCrc) return "payload checksum mismatch (corrupt)";
        return null;
    }
}
