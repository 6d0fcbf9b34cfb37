package dev.starattn.app.cli;

import dev.starattn.engine.ProgressListener;
import java.io.PrintStream;
import java.io.PrintWriter;

/** Phase-1 progress on stderr, one line per finished block per host. */
public final class Phase1Progress implements ProgressListener {
    private final PrintWriter out;
    private final long start = System.nanoTime();

    Phase1Progress(PrintStream out) {
        this(new PrintWriter(out, true));
    }

    public Phase1Progress(PrintWriter out) {
        this.out = out;
    }

    @Override
    public void blockDone(String host, int done, int total, int tokens) {
        out.printf("  phase 1 %-8s block %d/%d  %6d tokens  %7.0f ms%n", host, done, total, tokens, (System.nanoTime() - start) / 1e6);
        out.flush();
    }
}
