package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Block files are written through temp files no other process or thread uses, and only abandoned ones are cleaned up. */
class BlockCacheTempFileTest {
    static final String KEY = "ab".repeat(32);

    @TempDir Path dir;

    @Test
    void tempNamesCarryTheProcessAndAreUniquePerWrite() throws Exception {
        String pid = Long.toString(ProcessHandle.current().pid());
        Set<String> names = ConcurrentHashMap.newKeySet();
        Thread[] ts = new Thread[4];
        for (int t = 0; t < ts.length; t++) {
            ts[t] = new Thread(() -> {
                for (int i = 0; i < 100; i++) names.add(BlockCache.tempName(KEY));
            });
            ts[t].start();
        }
        for (Thread t : ts) t.join();
        assertEquals(400, names.size(), "every write has its own temp file");
        String one = BlockCache.tempName(KEY);
        assertTrue(one.startsWith(KEY + "." + pid + "-"), one);
        assertTrue(one.endsWith(".part"), one);
        // Two writes by the same thread (e.g. two caches on one directory) differ too.
        assertNotEquals(BlockCache.tempName(KEY), BlockCache.tempName(KEY));
    }

    @Test
    void openingADirectoryKeepsALiveWritersTempFileAndDropsAbandonedOnes() throws Exception {
        Path live = Files.writeString(dir.resolve(BlockCache.tempName(KEY)), "in progress");
        long dead = deadPid();
        Path crashed = Files.writeString(dir.resolve(KEY + "." + dead + "-1-1.part"), "x");
        Path old = Files.writeString(dir.resolve(KEY + "." + ProcessHandle.current().pid() + "-1-2.part"), "x");
        Files.setLastModifiedTime(old, FileTime.fromMillis(System.currentTimeMillis() - 2 * 3_600_000L));
        new BlockCache("fp", 1 << 20, dir, 1 << 20, w -> {});
        assertTrue(Files.exists(live), "another writer's temp file is left alone");
        assertFalse(Files.exists(crashed), "the temp file of a process that is gone is deleted");
        assertFalse(Files.exists(old), "a temp file older than any write is deleted");
    }

    private static long deadPid() {
        Set<Long> seen = new HashSet<>();
        for (long p = 4_000_000; p > 3_000_000; p--) {
            if (ProcessHandle.of(p).isEmpty() && seen.add(p)) return p;
        }
        throw new AssertionError("no free pid found");
    }
}
