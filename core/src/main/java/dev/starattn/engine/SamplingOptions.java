package dev.starattn.engine;

/** Token sampling: temperature 0 is greedy. */
public record SamplingOptions(float temperature, float topP, long seed) {
    public SamplingOptions {
        if (temperature < 0) throw new IllegalArgumentException("--temperature must be 0 or more, got " + temperature);
        if (topP <= 0 || topP > 1) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    }

    public static SamplingOptions greedy() {
        return new SamplingOptions(0f, 1f, 0);
    }
}
