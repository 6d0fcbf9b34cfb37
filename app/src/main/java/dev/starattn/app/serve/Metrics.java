package dev.starattn.app.serve;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/** Counters, gauges and histograms, written in Prometheus' text exposition format (version 0.0.4). */
final class Metrics {
    /** A cumulative histogram with fixed upper bounds. */
    static final class Histogram {
        final double[] bounds;
        final LongAdder[] counts;
        final DoubleAdder sum = new DoubleAdder();
        final LongAdder count = new LongAdder();

        Histogram(double... bounds) {
            this.bounds = bounds;
            this.counts = new LongAdder[bounds.length];
            for (int i = 0; i < bounds.length; i++) counts[i] = new LongAdder();
        }

        void observe(double v) {
            for (int i = 0; i < bounds.length; i++) if (v <= bounds[i]) counts[i].increment();
            sum.add(v);
            count.increment();
        }
    }

    private static final double[] SECONDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

    final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    final Histogram phase1 = new Histogram(SECONDS);
    final Histogram phase2 = new Histogram(SECONDS);
    final Histogram ttft = new Histogram(SECONDS);
    final Histogram tokensPerSecond = new Histogram(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000);
    final LongAdder generatedTokens = new LongAdder();
    final LongAdder promptTokens = new LongAdder();
    final AtomicLong lastTokensPerSecond = new AtomicLong(Double.doubleToLongBits(0));
    final LongAdder rejected = new LongAdder();

    /** Per host name: the phase-1 and phase-2 seconds, blocks encoded, and whether it is encoding now. */
    static final class HostState {
        final DoubleAdder phase1Seconds = new DoubleAdder();
        final DoubleAdder phase2Seconds = new DoubleAdder();
        final LongAdder blocks = new LongAdder();
        final AtomicLong encoding = new AtomicLong();
    }

    final Map<String, HostState> hosts = new ConcurrentHashMap<>();

    HostState host(String name) {
        return hosts.computeIfAbsent(name, n -> new HostState());
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
        if (status == 429) rejected.increment();
    }

    void tokensPerSecond(double tps) {
        if (tps <= 0) return;
        tokensPerSecond.observe(tps);
        lastTokensPerSecond.set(Double.doubleToLongBits(tps));
    }

    /** The exposition text; {@code gauges} adds live values (queue depth, documents, per-host KV). */
    String render(Map<String, Supplier<Number>> gauges, Map<String, Long> hostKvBytes) {
        StringBuilder b = new StringBuilder(4096);
        b.append("# HELP starattn_requests_total HTTP requests by endpoint and status.\n# TYPE starattn_requests_total counter\n");
        new TreeMap<>(requests).forEach((k, v) -> {
            String[] p = k.split("\u0000");
            b.append("starattn_requests_total{endpoint=\"").append(p[0]).append("\",status=\"").append(p[1]).append("\"} ")
                    .append(v.sum()).append('\n');
        });
        counter(b, "starattn_rejected_total", "Requests refused with 429 (queue full).", rejected.sum());
        counter(b, "starattn_prompt_tokens_total", "Prompt tokens processed (context + query).", promptTokens.sum());
        counter(b, "starattn_generated_tokens_total", "Tokens generated.", generatedTokens.sum());
        gauges.forEach((name, s) -> {
            String[] p = name.split("\\|", 2);
            b.append("# HELP ").append(p[0]).append(' ').append(p.length > 1 ? p[1] : p[0]).append('\n');
            b.append("# TYPE ").append(p[0]).append(" gauge\n").append(p[0]).append(' ').append(num(s.get().doubleValue())).append('\n');
        });
        histogram(b, "starattn_phase1_seconds", "Phase 1 (context encoding over the hosts) wall time.", phase1);
        histogram(b, "starattn_phase2_seconds", "Phase 2 (query encoding and generation) wall time.", phase2);
        histogram(b, "starattn_time_to_first_token_seconds", "From the start of phase 2 to the first token.", ttft);
        histogram(b, "starattn_decode_tokens_per_second", "Decode speed per request.", tokensPerSecond);
        b.append("# HELP starattn_last_decode_tokens_per_second Decode speed of the latest request.\n")
                .append("# TYPE starattn_last_decode_tokens_per_second gauge\nstarattn_last_decode_tokens_per_second ")
                .append(num(Double.longBitsToDouble(lastTokensPerSecond.get()))).append('\n');
        TreeMap<String, HostState> hs = new TreeMap<>(hosts);
        hostKvBytes.keySet().forEach(this::host);
        hs = new TreeMap<>(hosts);
        b.append("# HELP starattn_host_kv_bytes KV bytes a context host holds (documents and running requests).\n# TYPE starattn_host_kv_bytes gauge\n");
        for (String h : hs.keySet()) b.append("starattn_host_kv_bytes{host=\"").append(h).append("\"} ").append(hostKvBytes.getOrDefault(h, 0L)).append('\n');
        b.append("# HELP starattn_host_encoding Phase-1 encodings a context host is running now.\n# TYPE starattn_host_encoding gauge\n");
        hs.forEach((h, s) -> b.append("starattn_host_encoding{host=\"").append(h).append("\"} ").append(s.encoding.get()).append('\n'));
        b.append("# HELP starattn_host_blocks_encoded_total Context blocks a host has encoded.\n# TYPE starattn_host_blocks_encoded_total counter\n");
        hs.forEach((h, s) -> b.append("starattn_host_blocks_encoded_total{host=\"").append(h).append("\"} ").append(s.blocks.sum()).append('\n'));
        b.append("# HELP starattn_host_phase1_seconds_total A host's own phase-1 compute time.\n# TYPE starattn_host_phase1_seconds_total counter\n");
        hs.forEach((h, s) -> b.append("starattn_host_phase1_seconds_total{host=\"").append(h).append("\"} ").append(num(s.phase1Seconds.sum())).append('\n'));
        b.append("# HELP starattn_host_phase2_seconds_total A host's own phase-2 time (serving attention partials; the query host: everything).\n# TYPE starattn_host_phase2_seconds_total counter\n");
        hs.forEach((h, s) -> b.append("starattn_host_phase2_seconds_total{host=\"").append(h).append("\"} ").append(num(s.phase2Seconds.sum())).append('\n'));
        return b.toString();
    }

    private static void counter(StringBuilder b, String name, String help, long v) {
        b.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" counter\n")
                .append(name).append(' ').append(v).append('\n');
    }

    private static void histogram(StringBuilder b, String name, String help, Histogram h) {
        b.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name).append(" histogram\n");
        for (int i = 0; i < h.bounds.length; i++) {
            b.append(name).append("_bucket{le=\"").append(num(h.bounds[i])).append("\"} ").append(h.counts[i].sum()).append('\n');
        }
        b.append(name).append("_bucket{le=\"+Inf\"} ").append(h.count.sum()).append('\n');
        b.append(name).append("_sum ").append(num(h.sum.sum())).append('\n');
        b.append(name).append("_count ").append(h.count.sum()).append('\n');
    }

    private static String num(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }
}
