package dev.starattn.engine;

/** Position ids given to the anchor in star phase 1 (the paper's Table 4 ablation). */
public enum AnchorPositions {
    /** The anchor keeps its original positions 0..a-1 (the method as published). */
    ORIGINAL,
    /** The anchor takes the a positions just before its block. */
    ADJACENT,
    /** The anchor takes a random sorted set of positions before its block (seeded). */
    RANDOM;

    public static AnchorPositions parse(String s) {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
    }
}
