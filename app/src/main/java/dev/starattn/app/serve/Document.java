package dev.starattn.app.serve;

import dev.starattn.engine.EncodedContext;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A long text encoded once (phase 1) and kept for many questions (phase 2 only). Its encoded
 * context answers one query at a time ({@link #lock}); it expires after the time to live without use.
 */
final class Document {
    enum Status { QUEUED, ENCODING, READY, FAILED }

    /** Phase-1 progress of one host. */
    static final class HostProgress {
        int done, total, tokens;
    }

    final String id;
    final String name;
    final long createdEpochS = System.currentTimeMillis() / 1000;
    final int[] contextTokens;
    final int chars;
    /** UTF-8 bytes of the text, counted against --max-document-bytes while the document is held. */
    final long bytes;
    final ReentrantLock lock = new ReentrantLock(true);
    final CompletableFuture<EncodedContext> ready = new CompletableFuture<>();
    final Map<String, HostProgress> progress = new LinkedHashMap<>();
    volatile Status status = Status.QUEUED;
    volatile String error;
    volatile EncodedContext context;
    volatile long lastUsedNanos = System.nanoTime();
    volatile boolean removed;
    /** Bytes of the memory budget this document holds (an estimate until phase 1 ends). */
    volatile long reservedBytes;
    volatile long phase1Nanos, phase1CriticalNanos;
    /** Bumped on every change, so that event streams know when to send. */
    volatile int version;

    Document(String id, String name, int[] contextTokens, int chars, long bytes, Iterable<String> hostNames) {
        this.id = id;
        this.name = name;
        this.contextTokens = contextTokens;
        this.chars = chars;
        this.bytes = bytes;
        for (String h : hostNames) progress.put(h, new HostProgress());
    }

    void touch() {
        lastUsedNanos = System.nanoTime();
    }

    synchronized void blockDone(String host, int done, int total, int tokens) {
        HostProgress p = progress.computeIfAbsent(host, h -> new HostProgress());
        p.done = done;
        p.total = total;
        p.tokens = tokens;
        version++;
    }

    long kvBytes() {
        EncodedContext c = context;
        return c == null ? 0 : c.hosts().stream().mapToLong(h -> h.kvBytes()).sum();
    }
}
