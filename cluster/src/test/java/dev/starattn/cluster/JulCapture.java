package dev.starattn.cluster;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** Collects what gRPC and Netty would print through java.util.logging (WARNING and above) while open. Test use only. */
final class JulCapture extends Handler implements AutoCloseable {
    private static final Logger ROOT = Logger.getLogger("");
    final List<LogRecord> records = new CopyOnWriteArrayList<>();

    JulCapture() {
        setLevel(Level.WARNING);
        ROOT.addHandler(this);
    }

    @Override
    public void publish(LogRecord r) {
        if (r.getLevel().intValue() >= Level.WARNING.intValue()) records.add(r);
    }

    /** The records, one line each: logger, level, message start. */
    String summary() {
        StringBuilder b = new StringBuilder();
        for (LogRecord r : records) {
            String m = String.valueOf(r.getMessage());
            b.append(r.getLoggerName()).append(' ').append(r.getLevel()).append(' ').append(m, 0, Math.min(120, m.length())).append('\n');
        }
        return b.toString();
    }

    @Override
    public void flush() {}

    @Override
    public void close() {
        ROOT.removeHandler(this);
    }
}
