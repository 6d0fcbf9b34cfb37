package dev.starattn.cluster;

import dev.starattn.engine.BlockTask;
import dev.starattn.model.DecoderModel;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelHash;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A context host's memory: what it should take (the model's weights, the KV its sessions hold, one block's
 * working set while phase 1 runs) next to what it takes (resident memory now and at its peak, from
 * {@code /proc/self/status}), as one log line; and the collections that return a block's working set to the
 * heap once phase 1 is done with it.
 *
 * <p>Why collect by hand: a block's working set (its {@code [anchor; block]} KV, 100 MiB at 2K tokens of a 125M
 * model) is too large for the young generation and dies in the old one, and the parallel collector grows the old
 * generation rather than collect it while it may: the host's heap came to hold every block it had encoded.
 */
final class HostMemory {
    /** A working set this large is collected at once when it is dropped: a full collection of the host's heap costs far less than computing it did. */
    static final long RECLAIM_BYTES = 32L << 20;

    private final long weightBytes;
    /** The model's files as the mappings name them. */
    private final List<String> files = new java.util.ArrayList<>();
    /**
     * The JVM's own resident memory when the host started serving: resident memory less the weights' resident pages
     * and the heap in use then (class metadata, compiled code, the collector's tables, thread stacks, the AOT cache).
     */
    private final long runtimeBytes;

    HostMemory(LoadedModel model) {
        this.weightBytes = fileBytes(model.contentHash());
        for (ModelHash.Part p : model.contentHash().parts()) {
            try {
                files.add(p.file().toRealPath().toString());
            } catch (IOException e) {
                files.add(p.file().toAbsolutePath().toString());
            }
        }
        long[] rss = residentBytes();
        Runtime rt = Runtime.getRuntime();
        long weights = weightsResident();
        this.runtimeBytes = rss == null || weights < 0 ? -1 : Math.max(0, rss[0] - weights - (rt.totalMemory() - rt.freeMemory()));
    }

    /** Bytes of the files the model was loaded from (its weights are mapped from them). */
    private static long fileBytes(ModelHash hash) {
        long b = 0;
        for (ModelHash.Part p : hash.parts()) {
            try {
                b += Files.size(p.file());
            } catch (IOException e) {
                // The file went away after loading: the mapping still holds its pages; count nothing for it.
            }
        }
        return b;
    }

    long weightBytes() {
        return weightBytes;
    }

    /**
     * The most bytes phase 1 of {@code blocks} holds beside the session's own KV: the widest block's
     * {@code [anchor; block]} KV ({@code kvBytesPerToken} a row) and one prefill chunk's activations.
     */
    static long blockWorkingSet(LoadedModel model, List<BlockTask> blocks, long kvBytesPerToken, int prefillChunk) {
        long rows = 0;
        int widest = 0;
        for (BlockTask b : blocks) {
            rows = Math.max(rows, (long) b.anchorTokens().length + b.tokens().length);
            widest = Math.max(widest, Math.max(b.anchorTokens().length, b.tokens().length));
        }
        return rows * kvBytesPerToken + DecoderModel.activationBytes(model.config(), Math.min(prefillChunk, widest));
    }

    /** A full collection when {@code workingSet} bytes were just dropped and that is worth one. */
    static void reclaim(long workingSet) {
        if (workingSet >= RECLAIM_BYTES) System.gc();
    }

    /**
     * {@code memory: RSS 300 MiB (peak 330 MiB) vs expected 312 MiB = weights 127 + KV 48 + block 137 (peak 1.06x)}:
     * the sessions' KV ({@code kvBytes}) and the last block working set ({@code workingSet}) with the weights; the
     * rest of the peak is the JVM's own memory (code, class metadata, collector) and heap not yet collected.
     */
    String line(long kvBytes, long workingSet) {
        long expected = weightBytes + kvBytes + workingSet;
        long[] rss = residentBytes();
        if (rss == null) {
            return String.format(Locale.ROOT, "memory: expected %s MiB = weights %s + KV %s + one block's working set %s (no /proc/self/status to compare)",
                    mib(expected), mib(weightBytes), mib(kvBytes), mib(workingSet));
        }
        String jvm = runtimeBytes < 0 ? "" : String.format(Locale.ROOT, "; the JVM's own at start %s MiB, peak %.2fx expected + it",
                mib(runtimeBytes), (double) rss[1] / (expected + runtimeBytes));
        return String.format(Locale.ROOT, "memory: RSS %s MiB (peak %s MiB) vs expected %s MiB = weights %s + KV %s + one block's"
                        + " working set %s, peak %.2fx expected%s; weights resident %s MiB",
                mib(rss[0]), mib(rss[1]), mib(expected), mib(weightBytes), mib(kvBytes), mib(workingSet),
                (double) rss[1] / expected, jvm, mib(weightsResident()));
    }

    /** Resident bytes of the model's mapped files (from {@code /proc/self/smaps}), or -1 where the system does not tell. */
    long weightsResident() {
        long rss = 0;
        boolean model = false;
        try (var lines = Files.lines(Path.of("/proc/self/smaps"))) {
            for (String line : (Iterable<String>) lines::iterator) {
                if (!line.isEmpty() && Character.digit(line.charAt(0), 16) >= 0 && !Character.isUpperCase(line.charAt(0)) && line.indexOf('-') > 0 && line.indexOf(' ') > line.indexOf('-')) {
                    int slash = line.indexOf('/');
                    model = slash > 0 && files.contains(line.substring(slash));
                } else if (model && line.startsWith("Rss:")) {
                    rss += kib(line);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return rss;
    }

    /** Resident bytes now and at the peak (VmRSS, VmHWM), or null where the system does not tell. */
    static long[] residentBytes() {
        Path status = Path.of("/proc/self/status");
        long now = -1, peak = -1;
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) now = kib(line);
                else if (line.startsWith("VmHWM:")) peak = kib(line);
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return now < 0 || peak < 0 ? null : new long[] {now, peak};
    }

    private static long kib(String statusLine) {
        String[] f = statusLine.trim().split("\\s+");
        return Long.parseLong(f[1]) * 1024;
    }

    private static String mib(long bytes) {
        return Long.toString(Math.round(bytes / 1048576.0));
    }
}
