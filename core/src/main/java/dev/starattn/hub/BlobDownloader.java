package dev.starattn.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Brings one blob into the cache: under the blob's lock, appends to {@code blobs/<etag>.incomplete}
 * from where an earlier try stopped (a Range request), retries a broken connection from the bytes it
 * has, checks the size and, for LFS files, that the bytes hash to the sha256 the Hub names, and only
 * then renames the file to {@code blobs/<etag>}. A failed check deletes the partial file: its bytes
 * cannot be trusted for a resume.
 */
final class BlobDownloader {
    /** Tries in a row that bring no new byte before the pull gives up (huggingface_hub: 5). */
    private static final int MAX_FRUITLESS_TRIES = 5;
    private static final int BUFFER = 1 << 20;

    private final HubHttp http;
    private final HubCache cache;
    private final RepoRef repo;
    private final DownloadListener listener;
    private final long stallMillis;

    BlobDownloader(HubHttp http, HubCache cache, RepoRef repo, DownloadListener listener, long stallMillis) {
        this.http = http;
        this.cache = cache;
        this.repo = repo;
        this.listener = listener;
        this.stallMillis = stallMillis;
    }

    /** Makes {@code blobs/<etag>} hold the file; false if it was there already (or another pull put it there). */
    boolean fetch(String file, FileMetadata meta) throws IOException {
        Path blob = cache.blob(meta.etag());
        if (Files.exists(blob)) return false;
        Files.createDirectories(blob.getParent());
        try (BlobLock lock = BlobLock.acquire(cache.lockFile(meta.etag()), () -> listener.waiting(file))) {
            if (Files.exists(blob)) return false;
            Path part = cache.incomplete(meta.etag());
            long have = Files.exists(part) ? Files.size(part) : 0;
            if (meta.size() >= 0 && have > meta.size()) {
                Files.delete(part); // longer than the file: not a prefix of it
                have = 0;
            }
            if (meta.size() >= 0) checkSpace(file, part.getParent(), meta.size() - have);
            MessageDigest sha = meta.isSha256() ? sha256() : null;
            if (sha != null && have > 0) hashPrefix(part, have, sha);
            listener.started(file, meta.size(), have);
            int fruitless = 0;
            while (meta.size() < 0 || have < meta.size()) {
                long before = have;
                try {
                    have = transfer(file, meta, part, have, sha);
                    if (meta.size() < 0) break; // size unknown: one answer to its end is the file
                    if (have < meta.size()) throw new IOException("the connection closed at byte " + have + " of " + meta.size());
                } catch (IOException e) {
                    if (isNoSpace(e)) {
                        throw HubErrors.noSpace(repo, file, part.getParent(), Math.max(0, meta.size() - have),
                                Files.getFileStore(part.getParent()).getUsableSpace());
                    }
                    have = Files.exists(part) ? Files.size(part) : 0;
                    if (sha != null) {
                        sha.reset();
                        if (have > 0) hashPrefix(part, have, sha);
                    }
                    fruitless = have > before ? 1 : fruitless + 1;
                    if (fruitless > MAX_FRUITLESS_TRIES) {
                        throw new HubException("the download of " + repo.id() + " file " + file + " broke off at " + Bytes.human(have)
                                + " of " + Bytes.human(meta.size()) + " (" + e.getMessage() + "); run the same pull again to resume it.", e);
                    }
                    listener.retrying(file, have, e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
                    sleep(250L * fruitless);
                }
            }
            verify(file, meta, part, sha);
            HubCache.moveReplacing(part, blob);
            return true;
        }
    }

    /** One GET from {@code have} on, appended to the partial file; the new length. */
    private long transfer(String file, FileMetadata meta, Path part, long have, MessageDigest sha) throws IOException {
        HttpResponse<InputStream> r;
        try {
            r = http.download(repo, file, meta.location(), have);
        } catch (HubException e) {
            if (e.getCause() instanceof IOException io) throw io; // the network, not the Hub's answer: worth another try
            throw e;
        }
        if (have > 0 && r.statusCode() == 200) {
            // The server sent the whole file instead of the range: start over rather than append it.
            have = 0;
            if (sha != null) sha.reset();
        } else if (have > 0) {
            long start = rangeStart(r.headers().firstValue("Content-Range").orElse(null));
            if (start >= 0 && start != have) {
                r.body().close();
                throw new IOException("the server resumed at byte " + start + " instead of " + have);
            }
        }
        AtomicLong lastByte = new AtomicLong(System.nanoTime());
        InputStream in = r.body();
        Thread watchdog = Thread.ofVirtual().start(() -> closeWhenStalled(in, lastByte));
        try (in; FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            out.truncate(have);
            out.position(have);
            byte[] buf = new byte[BUFFER];
            int n;
            while ((n = in.read(buf)) > 0) {
                lastByte.set(System.nanoTime());
                if (sha != null) sha.update(buf, 0, n);
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) out.write(bb);
                have += n;
                listener.progress(file, have);
                if (meta.size() >= 0 && have > meta.size()) throw new IOException("the server sent more than " + meta.size() + " bytes");
            }
            return have;
        } finally {
            watchdog.interrupt();
        }
    }

    /** A connection that sends nothing for {@code stallMillis} is closed, so that the read fails and resumes instead of hanging. */
    private void closeWhenStalled(InputStream in, AtomicLong lastByte) {
        try {
            while (true) {
                Thread.sleep(Math.min(1000, stallMillis));
                if ((System.nanoTime() - lastByte.get()) / 1_000_000 > stallMillis) {
                    in.close();
                    return;
                }
            }
        } catch (InterruptedException | IOException e) {
            // the transfer ended (interrupt) or the stream is gone: nothing to watch
        }
    }

    private void verify(String file, FileMetadata meta, Path part, MessageDigest sha) throws IOException {
        long size = Files.size(part);
        if (meta.size() >= 0 && size != meta.size()) {
            Files.deleteIfExists(part);
            throw new HubException(repo.id() + " file " + file + " arrived with " + size + " bytes instead of " + meta.size()
                    + "; the partial file was deleted, pull again.");
        }
        if (sha != null) {
            String got = HexFormat.of().formatHex(sha.digest());
            if (!got.equals(meta.etag())) {
                Files.deleteIfExists(part);
                throw new HubException(repo.id() + " file " + file + " is corrupt: its sha256 is " + got + " but the Hub names "
                        + meta.etag() + "; the download was deleted, pull again.");
            }
        }
    }

    private void checkSpace(String file, Path dir, long needed) throws IOException {
        long free = Files.getFileStore(dir).getUsableSpace();
        if (needed > free) throw HubErrors.noSpace(repo, file, dir, needed, free);
    }

    private static void hashPrefix(Path part, long length, MessageDigest sha) throws IOException {
        try (InputStream in = Files.newInputStream(part)) {
            byte[] buf = new byte[BUFFER];
            long left = length;
            int n;
            while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
                sha.update(buf, 0, n);
                left -= n;
            }
        }
    }

    /** The first byte of {@code Content-Range: bytes START-END/TOTAL}, or -1. */
    static long rangeStart(String contentRange) {
        if (contentRange == null || !contentRange.startsWith("bytes ")) return -1;
        int dash = contentRange.indexOf('-');
        try {
            return dash < 0 ? -1 : Long.parseLong(contentRange.substring(6, dash).strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static boolean isNoSpace(IOException e) {
        return e.getMessage() != null && e.getMessage().contains("No space left on device");
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("the pull was interrupted.", e);
        }
    }
}
