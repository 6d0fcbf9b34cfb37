package dev.starattn.hub;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One pull at a time per blob: an exclusive {@link FileLock} on {@code .locks/models--ORG--NAME/<etag>.lock}
 * (huggingface_hub's lock file) for other processes, and an in-process lock first, because a JVM holds
 * file locks per process and a second thread asking for the same one would fail, not wait.
 */
final class BlobLock implements AutoCloseable {
    private static final ConcurrentHashMap<Path, ReentrantLock> IN_PROCESS = new ConcurrentHashMap<>();

    private final ReentrantLock threadLock;
    private final FileChannel channel;
    private final FileLock fileLock;

    private BlobLock(ReentrantLock threadLock, FileChannel channel, FileLock fileLock) {
        this.threadLock = threadLock;
        this.channel = channel;
        this.fileLock = fileLock;
    }

    /** Takes the lock, calling {@code onWait} once if someone else holds it. */
    static BlobLock acquire(Path lockFile, Runnable onWait) throws IOException {
        Path key = lockFile.toAbsolutePath().normalize();
        ReentrantLock threadLock = IN_PROCESS.computeIfAbsent(key, k -> new ReentrantLock());
        boolean waited = false;
        if (!threadLock.tryLock()) {
            onWait.run();
            waited = true;
            threadLock.lock();
        }
        try {
            Files.createDirectories(key.getParent());
            FileChannel ch = FileChannel.open(key, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                FileLock fl = ch.tryLock();
                if (fl == null) {
                    if (!waited) onWait.run();
                    fl = ch.lock();
                }
                return new BlobLock(threadLock, ch, fl);
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            threadLock.unlock();
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            fileLock.release();
            channel.close();
        } finally {
            threadLock.unlock();
        }
    }
}
