package dev.starattn.engine;

/** Tokens used as the anchor in star phase 1 (the paper's Table 4 ablation). */
public enum AnchorContent {
    /** The first a tokens of the context (the method as published). */
    FIRST,
    /** The a tokens just before the block. */
    PREVIOUS,
    /** The first a tokens of the context, shuffled (seeded). */
    SHUFFLED,
    /** a tokens drawn at random (seeded) from anywhere in the context: text of the document, but no BOS and no order. */
    RANDOM;

    public static AnchorContent parse(String s) {
        return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
    }
}
