package dev.starattn.app.serve;

import java.time.Duration;
import java.util.List;

/**
 * Limits and settings of {@code starattn serve}.
 *
 * @param maxContext       most tokens a request may occupy (context + query + new tokens)
 * @param maxConcurrent    requests (and document encodings) that run at once
 * @param queue            requests that may wait for a slot; one more is answered 429
 * @param timeout          per request: waiting in the queue plus running
 * @param maxBodyBytes     largest request body; a larger one is answered 413
 * @param apiKey           bearer token every /v1 and /metrics request must carry; null = none
 * @param documentTtl      a document is dropped after this long without use
 * @param memoryBudget     most bytes of KV that documents and running requests may hold together
 * @param defaultMaxTokens new tokens when a request names none
 * @param maxDocuments     documents held at once (any status); one more is answered 507
 * @param maxDocumentBytes UTF-8 bytes of document text held at once; a document that does not fit is answered 507
 * @param maxNameChars     longest document name
 * @param allowOrigins     browser origins besides the server's own that may call the API ("*": any)
 */
public record ServerConfig(String bind, int port, int maxContext, int maxConcurrent, int queue, Duration timeout,
                           long maxBodyBytes, String apiKey, Duration documentTtl, long memoryBudget,
                           int defaultMaxTokens, int maxDocuments, long maxDocumentBytes, int maxNameChars,
                           List<String> allowOrigins) {
    public ServerConfig {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be 0..65535, got " + port);
        if (maxConcurrent < 1) throw new IllegalArgumentException("--max-concurrent must be at least 1");
        if (queue < 0) throw new IllegalArgumentException("--queue must be 0 or more");
        if (maxBodyBytes < 1) throw new IllegalArgumentException("--max-body-bytes must be positive");
        if (memoryBudget < 1) throw new IllegalArgumentException("--memory-budget must be positive");
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("--timeout-s must be positive");
        if (documentTtl.isNegative() || documentTtl.isZero()) throw new IllegalArgumentException("--document-ttl-s must be positive");
        if (maxDocuments < 1) throw new IllegalArgumentException("--max-documents must be at least 1");
        if (maxDocumentBytes < 1) throw new IllegalArgumentException("--max-document-bytes must be positive");
        if (maxNameChars < 1) throw new IllegalArgumentException("--max-name-chars must be at least 1");
        allowOrigins = allowOrigins == null ? List.of() : allowOrigins.stream().map(ServerConfig::origin).toList();
    }

    /** An origin as browsers send it: scheme://host[:port], lower case, no path; or "*". */
    static String origin(String o) {
        String s = o.strip().toLowerCase(java.util.Locale.ROOT);
        if (s.endsWith("/")) s = s.substring(0, s.length() - 1);
        if (!s.equals("*") && !s.matches("https?://[^/?#\\s]+")) {
            throw new IllegalArgumentException("--allow-origin " + dev.starattn.format.Printable.quote(o)
                    + " is not an origin: write scheme://host[:port] (e.g. http://localhost:3000) or *");
        }
        return s;
    }

    /** Defaults for tests: loopback, an ephemeral port, small limits. */
    public static ServerConfig defaults() {
        return new ServerConfig("127.0.0.1", 0, 0, 2, 16, Duration.ofSeconds(120), 8 << 20, null,
                Duration.ofMinutes(30), 2L << 30, 128, 64, 64L << 20, 256, List.of());
    }

    public ServerConfig withApiKey(String k) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, maxBodyBytes, k, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withLimits(int maxConcurrent, int queue) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, maxBodyBytes, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withTimeout(Duration t) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, t, maxBodyBytes, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withMaxBodyBytes(long b) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, b, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withDocuments(Duration ttl, long budget) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, maxBodyBytes, apiKey, ttl, budget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withMaxContext(int n) {
        return new ServerConfig(bind, port, n, maxConcurrent, queue, timeout, maxBodyBytes, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, allowOrigins);
    }

    public ServerConfig withDocumentLimits(int count, long bytes, int nameChars) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, maxBodyBytes, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, count, bytes, nameChars, allowOrigins);
    }

    public ServerConfig withAllowOrigins(List<String> origins) {
        return new ServerConfig(bind, port, maxContext, maxConcurrent, queue, timeout, maxBodyBytes, apiKey, documentTtl, memoryBudget,
                defaultMaxTokens, maxDocuments, maxDocumentBytes, maxNameChars, origins);
    }
}
