package dev.starattn.engine;

/** Progress of long work: phase 1 per host and block. */
@FunctionalInterface
public interface ProgressListener {
    ProgressListener NONE = (host, done, total, tokens) -> {};

    /** Host {@code host} has finished {@code done} of its {@code total} blocks ({@code tokens} tokens so far). */
    void blockDone(String host, int done, int total, int tokens);
}
