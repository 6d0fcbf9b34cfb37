package dev.starattn.app.serve;

import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.model.Prompt;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The documents held: created within their limits (--max-documents, --max-document-bytes,
 * --max-name-chars, the memory budget), encoded in the background, listed a page at a time,
 * deleted, and expired after --document-ttl-s without use.
 */
final class DocumentStore {
    private final ServerConfig cfg;
    private final ServedModel served;
    private final MemoryBudget budget;
    private final Admission admission;
    private final LiveContexts contexts;
    private final TokenBounds bounds;
    private final Map<String, Document> documents = new ConcurrentHashMap<>();
    private final AtomicLong documentSeq = new AtomicLong();
    /** Documents held or being created, and their text bytes (guarded by {@link #documentLimits}). */
    private final Object documentLimits = new Object();
    private int documentsHeld;
    private long documentBytesHeld;
    private final ScheduledExecutorService reaper;

    DocumentStore(ServerConfig cfg, ServedModel served, MemoryBudget budget, Admission admission, LiveContexts contexts, TokenBounds bounds) {
        this.cfg = cfg;
        this.served = served;
        this.budget = budget;
        this.admission = admission;
        this.contexts = contexts;
        this.bounds = bounds;
        long ttlMs = cfg.documentTtl().toMillis();
        long period = Math.clamp(ttlMs / 4, 50, 5_000);
        reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "serve-document-reaper");
            t.setDaemon(true);
            return t;
        });
        reaper.scheduleWithFixedDelay(this::expireDocuments, period, period, TimeUnit.MILLISECONDS);
    }

    /** Documents held now (any status). */
    int size() {
        return documents.size();
    }

    /** Documents encoded and ready for questions. */
    long readyCount() {
        return documents.values().stream().filter(d -> d.status == Document.Status.READY).count();
    }

    /** The document, or 404 when it is unknown, expired or deleted. */
    Document get(String id) {
        Document d = documents.get(id);
        if (d == null || d.removed) {
            throw ApiError.notFound("document_not_found", "no document '" + id + "' (it may have expired after its time to live, "
                    + cfg.documentTtl().toSeconds() + " s without use, or been deleted)");
        }
        return d;
    }

    /** Takes the text (within the limits) and starts encoding it; the document is returned still queued. */
    Document create(String text, String name) {
        if (text.isBlank()) throw ApiError.badRequest("empty_document", "the document is empty");
        if (name != null && name.length() > cfg.maxNameChars()) {
            throw ApiError.badField("name", "name_too_long", "the document name has " + name.length() + " characters; the limit is "
                    + cfg.maxNameChars() + " (--max-name-chars)");
        }
        long bytes = TokenBounds.utf8Length(text);
        bounds.refuseCertainOverflow(bytes, 2, "the document");
        reserveDocument(bytes);
        boolean kept = false;
        try {
            int maxContext = served.maxContext();
            int[] ctx = Prompt.of(served.model(), served.template(), text + "\n\n", "x").context();
            // one query token and one new token at least must still fit
            if ((long) ctx.length + 2 > maxContext) {
                throw ApiError.badRequest("context_length_exceeded", "the document has " + ctx.length
                        + " tokens but this server takes at most " + maxContext + " tokens per request, question and answer included (--max-context)");
            }
            // the sequence first: ids sort in creation order, which the listing's cursor relies on
            String id = String.format("doc-%010x%s", documentSeq.incrementAndGet(), RandomIds.hex(8));
            Document d = new Document(id, name, ctx, text.length(), bytes, contexts.hostNames());
            long estimate = contexts.kvEstimate(ctx.length);
            budget.reserve(estimate, "the document");
            d.reservedBytes = estimate;
            Admission.Pending pending;
            try {
                pending = admission.admit(null);
            } catch (ApiError e) {
                budget.release(estimate);
                throw e;
            }
            documents.put(id, d);
            kept = true;
            Thread.ofVirtual().name("encode-" + id).start(() -> encodeDocument(d, pending));
            return d;
        } finally {
            if (!kept) unreserveDocument(bytes);
        }
    }

    /** Takes a place for a document of {@code bytes} text bytes in the store, or refuses (413, 507). */
    private void reserveDocument(long bytes) {
        if (bytes > cfg.maxDocumentBytes()) {
            throw new ApiError(413, "invalid_request_error", "document_too_large", "the document has " + bytes
                    + " bytes of text; the server holds at most " + cfg.maxDocumentBytes() + " bytes of documents (--max-document-bytes)");
        }
        synchronized (documentLimits) {
            if (documentsHeld >= cfg.maxDocuments()) {
                throw new ApiError(507, "server_error", "too_many_documents", "the server holds " + documentsHeld
                        + " documents, its limit (--max-documents); delete documents or retry after some expire");
            }
            if (documentBytesHeld + bytes > cfg.maxDocumentBytes()) {
                throw new ApiError(507, "server_error", "document_storage_full", "the document has " + bytes + " bytes of text; "
                        + (cfg.maxDocumentBytes() - documentBytesHeld) + " of the " + cfg.maxDocumentBytes()
                        + " bytes for documents (--max-document-bytes) are free; delete documents or retry after some expire");
            }
            documentsHeld++;
            documentBytesHeld += bytes;
        }
    }

    private void unreserveDocument(long bytes) {
        synchronized (documentLimits) {
            documentsHeld--;
            documentBytesHeld -= bytes;
        }
    }

    /** One page of the listing: the documents, and whether more follow. */
    record Page(List<Document> documents, boolean hasMore) {}

    /** Up to {@code limit} documents created after the one with id {@code after} (null: from the first), in creation order. */
    Page page(int limit, String after) {
        List<Document> rest = documents.values().stream().filter(d -> after == null || d.id.compareTo(after) > 0)
                .sorted((x, y) -> x.id.compareTo(y.id)).limit(limit + 1L).toList();
        return new Page(rest.subList(0, Math.min(limit, rest.size())), rest.size() > limit);
    }

    private void encodeDocument(Document d, Admission.Pending pending) {
        try (Admission.Ticket t = pending.await(System.nanoTime() + TimeUnit.DAYS.toNanos(365))) {
            if (d.removed) throw new CancelledException();
            d.status = Document.Status.ENCODING;
            d.version++;
            long t0 = System.nanoTime();
            EncodedContext ctx = contexts.encode(d.contextTokens, (host, done, total, tokens) -> {
                d.blockDone(host, done, total, tokens);
                if (d.removed) throw new CancelledException();
            });
            d.phase1Nanos = System.nanoTime() - t0;
            d.phase1CriticalNanos = ctx.phase1CriticalPathNanos();
            long actual = ctx.hosts().stream().mapToLong(ContextHost::kvBytes).sum();
            synchronized (d) {
                if (d.removed) {
                    contexts.release(ctx);
                    throw new CancelledException();
                }
                d.context = ctx;
                budget.adjust(d.reservedBytes, actual);
                d.reservedBytes = actual;
                d.status = Document.Status.READY;
                d.touch();
                d.version++;
            }
            d.ready.complete(ctx);
        } catch (CancelledException e) {
            d.ready.completeExceptionally(ApiError.notFound("document_not_found", "the document was deleted"));
            synchronized (d) {
                budget.release(d.reservedBytes);
                d.reservedBytes = 0;
            }
        } catch (Throwable e) {
            d.error = e.getMessage() != null ? e.getMessage() : e.toString();
            d.status = Document.Status.FAILED;
            synchronized (d) {
                budget.release(d.reservedBytes);
                d.reservedBytes = 0;
            }
            d.touch();
            d.version++;
            d.ready.completeExceptionally(e instanceof ApiError a ? a
                    : new ApiError(500, "server_error", "document_failed", "encoding the document failed: " + d.error));
        }
    }

    /** Ends an encoding whose document was deleted meanwhile. */
    private static final class CancelledException extends RuntimeException {
        CancelledException() {
            super("cancelled", null, false, false);
        }
    }

    /** Removes a document; waits for a query running on it to finish before freeing its KV. */
    void delete(String id) {
        Document d = documents.remove(id);
        if (d == null) return;
        unreserveDocument(d.bytes);
        d.removed = true;
        d.lock.lock();
        try {
            synchronized (d) {
                if (d.context != null) {
                    contexts.release(d.context);
                    d.context = null;
                    budget.release(d.reservedBytes);
                    d.reservedBytes = 0;
                }
                // still encoding: the encoder sees 'removed' and gives back its reservation itself
            }
        } finally {
            d.lock.unlock();
        }
    }

    private void expireDocuments() {
        long ttl = cfg.documentTtl().toNanos();
        long now = System.nanoTime();
        for (Document d : documents.values()) {
            if (d.status == Document.Status.QUEUED || d.status == Document.Status.ENCODING) continue;
            if (now - d.lastUsedNanos < ttl) continue;
            if (d.lock.hasQueuedThreads() || !d.lock.tryLock()) continue; // answering or about to: not idle
            try {
                if (documents.remove(d.id, d)) {
                    unreserveDocument(d.bytes);
                    d.removed = true;
                    synchronized (d) {
                        if (d.context != null) {
                            contexts.release(d.context);
                            d.context = null;
                        }
                        budget.release(d.reservedBytes);
                        d.reservedBytes = 0;
                    }
                }
            } finally {
                d.lock.unlock();
            }
        }
    }

    /** Stops expiring documents (the server is closing). */
    void stopExpiring() {
        reaper.shutdownNow();
    }

    /** Deletes every document, freeing its KV. */
    void deleteAll() {
        for (String id : List.copyOf(documents.keySet())) delete(id);
    }
}
