package dev.starattn.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.IntPredicate;

/**
 * Phase 2's loop, whatever runs the model: the query's forward, then one token at a time drawn by a
 * {@link Sampler}, until a token for which {@code stop} is true (not emitted) or {@code maxNewTokens}. The engine
 * runs it over its hosts or a device pipeline; {@code CudaStarQuery} over its GPUs directly (benchmarks, checks).
 */
public final class DecodeLoop {
    private DecodeLoop() {}

    /** One forward of {@code tokens} at positions {@code pos ..}: the last row's logits. */
    @FunctionalInterface
    public interface Step {
        float[] logits(int[] tokens, int pos);
    }

    /**
     * What one run gave: its tokens, the query step's logits, and times from the start: to the first logits
     * ({@code ttftNanos}), of the loop after them ({@code decodeNanos}), in all ({@code totalNanos}).
     */
    public record Outcome(int[] tokens, float[] firstLogits, long ttftNanos, long decodeNanos, long totalNanos, String stopReason) {}

    /** Runs the query at positions {@code pos ..} and then up to {@code maxNewTokens} new tokens; {@code onToken} sees each. */
    public static Outcome run(Step step, int[] query, int pos, SamplingOptions sampling, int maxNewTokens, IntPredicate stop,
                              IntConsumer onToken) {
        Sampler sampler = new Sampler(sampling);
        long t0 = System.nanoTime();
        float[] logits = step.logits(query, pos);
        float[] first = logits;
        pos += query.length;
        long ttft = System.nanoTime() - t0;
        long decodeStart = System.nanoTime();
        List<Integer> out = new ArrayList<>();
        String reason = "length";
        for (int i = 0; i < maxNewTokens; i++) {
            int next = sampler.next(logits);
            if (stop.test(next)) {
                reason = "stop";
                break;
            }
            out.add(next);
            onToken.accept(next);
            if (i == maxNewTokens - 1) break;
            logits = step.logits(new int[] {next}, pos++);
        }
        long end = System.nanoTime();
        return new Outcome(out.stream().mapToInt(Integer::intValue).toArray(), first, ttft, end - decodeStart, end - t0, reason);
    }
}
