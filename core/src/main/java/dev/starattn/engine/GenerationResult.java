package dev.starattn.engine;

import java.util.List;

/**
 * The outcome of one query against an encoded context.
 *
 * @param phase2Nanos query prefill plus generation
 * @param ttftNanos   from the start of phase 2 to the first generated token
 */
public record GenerationResult(String text, int[] tokens, int promptTokens, int contextTokens, int queryTokens,
                               long phase1Nanos, long phase2Nanos, long ttftNanos, long decodeNanos,
                               List<HostStats> hosts, String stopReason, float[] firstLogits) {
    public double decodeTokensPerSecond() {
        int decoded = Math.max(0, tokens.length - 1);
        return decodeNanos <= 0 || decoded == 0 ? 0 : decoded / (decodeNanos / 1e9);
    }
}
