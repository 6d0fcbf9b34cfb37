package dev.starattn.app.serve;

import dev.starattn.engine.InferenceEngine;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** {@code GET /metrics}: the {@link Metrics} counters with the live gauges (queue, documents, budget, block cache, per-host KV). */
final class MetricsPage {
    private final Metrics metrics;
    private final Admission admission;
    private final DocumentStore documents;
    private final MemoryBudget budget;
    private final InferenceEngine engine;
    private final LiveContexts contexts;

    MetricsPage(Metrics metrics, Admission admission, DocumentStore documents, MemoryBudget budget, InferenceEngine engine,
                LiveContexts contexts) {
        this.metrics = metrics;
        this.admission = admission;
        this.documents = documents;
        this.budget = budget;
        this.engine = engine;
        this.contexts = contexts;
    }

    String render() {
        Map<String, Supplier<Number>> g = new LinkedHashMap<>();
        g.put("starattn_queue_depth|Requests waiting for a slot or for their document.", admission::waiting);
        g.put("starattn_running_requests|Requests (and document encodings) running now.", admission::running);
        g.put("starattn_documents|Documents held (any status).", documents::size);
        g.put("starattn_documents_ready|Documents encoded and ready for questions.", documents::readyCount);
        g.put("starattn_memory_budget_bytes|KV memory budget (--memory-budget).", budget::capacity);
        g.put("starattn_memory_used_bytes|KV bytes reserved by documents and running requests.", budget::used);
        if (engine.blockCache() != null) {
            var cache = engine.blockCache();
            g.put("starattn_block_cache_hits|Star blocks taken from the block cache instead of encoded (memory or disk).", () -> cache.stats().hits());
            g.put("starattn_block_cache_misses|Star blocks encoded because the block cache lacked them.", () -> cache.stats().misses());
            g.put("starattn_block_cache_memory_bytes|Bytes the block cache holds in memory.", () -> cache.stats().memoryBytes());
            g.put("starattn_block_cache_disk_bytes|Bytes of block files in --cache-dir.", () -> cache.stats().diskBytes());
        }
        return metrics.render(g, contexts.hostKvBytes());
    }
}
