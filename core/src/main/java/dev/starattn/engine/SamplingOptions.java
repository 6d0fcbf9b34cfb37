package dev.starattn.engine;

/** Token sampling: temperature 0 is greedy. */
public record SamplingOptions(float temperature, float topP, long seed) {
    public SamplingOptions {
        // Written so that NaN fails too: every comparison with NaN is false.
        if (!(temperature >= 0 && temperature < Float.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException("--temperature takes a finite number, 0 (greedy) or more, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p takes a number above 0 and at most 1, got " + topP);
    }

    public static SamplingOptions greedy() {
        return new SamplingOptions(0f, 1f, 0);
    }
}
