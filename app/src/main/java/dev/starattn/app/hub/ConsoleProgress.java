package dev.starattn.app.hub;

import dev.starattn.hub.Bytes;
import dev.starattn.hub.DownloadListener;
import java.io.PrintStream;
import java.util.Locale;

/**
 * A pull's progress on stderr: on a terminal one bar per file, redrawn in place at most ten times a
 * second, with bytes, rate and time left; elsewhere (a log, a pipe) one line per file when it is done.
 */
final class ConsoleProgress implements DownloadListener {
    private static final int BAR = 24;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream err;
    private final boolean terminal;
    private long size;
    private long resumedFrom;
    private long startNanos;
    private long lastDraw;
    private long have;

    ConsoleProgress(PrintStream err, boolean terminal) {
        this.err = err;
        this.terminal = terminal;
    }

    static ConsoleProgress forStderr() {
        java.io.Console c = System.console();
        return new ConsoleProgress(System.err, c != null && c.isTerminal());
    }

    @Override
    public void started(String file, long size, long have) {
        this.size = size;
        this.resumedFrom = have;
        this.have = have;
        this.startNanos = System.nanoTime();
        this.lastDraw = 0;
        if (have > 0) err.printf("%s: resuming at %s of %s%n", file, Bytes.human(have), Bytes.human(size));
        if (terminal) draw(file, true);
    }

    @Override
    public void progress(String file, long have) {
        this.have = have;
        if (terminal) draw(file, false);
    }

    @Override
    public void finished(String file, long size, boolean downloaded) {
        if (!downloaded) {
            err.printf("%s: already in the cache (%s)%n", file, Bytes.human(size));
            return;
        }
        this.have = size;
        if (terminal) {
            draw(file, true);
            err.println();
        } else {
            err.printf("%s: %s at %s%n", file, Bytes.human(size), rate());
        }
    }

    @Override
    public void waiting(String file) {
        err.printf("%s: another pull is fetching it; waiting for it%n", file);
    }

    @Override
    public void retrying(String file, long have, String reason) {
        if (terminal) err.println();
        err.printf("%s: %s; resuming at %s%n", file, reason, Bytes.human(have));
    }

    private void draw(String file, boolean force) {
        long now = System.nanoTime();
        if (!force && now - lastDraw < REDRAW_NANOS) return;
        lastDraw = now;
        String name = file.length() > 32 ? "..." + file.substring(file.length() - 29) : file;
        if (size <= 0) {
            err.printf("\r%-32s %10s  %s\u001b[K", name, Bytes.human(have), rate());
            return;
        }
        double done = Math.min(1.0, (double) have / size);
        int filled = (int) Math.round(done * BAR);
        String bar = "=".repeat(filled) + (filled < BAR ? ">" + " ".repeat(BAR - filled - 1) : "");
        err.printf(Locale.ROOT, "\r%-32s %3d%% [%s] %s/%s  %s  ETA %s\u001b[K", name, (int) (done * 100), bar,
                Bytes.human(have), Bytes.human(size), rate(), eta());
    }

    private double bytesPerSecond() {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        return seconds <= 0 ? 0 : (have - resumedFrom) / seconds;
    }

    private String rate() {
        return Bytes.human((long) bytesPerSecond()) + "/s";
    }

    private String eta() {
        double bps = bytesPerSecond();
        if (bps <= 0 || size <= 0) return "--:--";
        long s = (long) Math.ceil((size - have) / bps);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
