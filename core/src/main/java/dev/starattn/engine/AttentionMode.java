package dev.starattn.engine;

/** How the context is encoded (phase 1). Phase 2 (query and generation) is exact in every mode. */
public enum AttentionMode {
    /** One host, ordinary causal attention over everything. */
    DENSE("dense"),
    /** Star Attention: block-local attention with an anchor prefix, then exact distributed query attention. */
    STAR("star"),
    /** Ring Attention: contiguous blocks, KV blocks passed around the ring; exact. */
    RING("ring"),
    /** Ring Attention with the zigzag (load-balanced) split: host h holds chunks h and 2H-1-h. */
    RING_ZIGZAG("ring-zigzag");

    public final String cliName;

    AttentionMode(String cliName) {
        this.cliName = cliName;
    }

    public static AttentionMode parse(String s) {
        for (AttentionMode m : values()) if (m.cliName.equalsIgnoreCase(s) || m.name().equalsIgnoreCase(s)) return m;
        if (s.equalsIgnoreCase("zigzag")) return RING_ZIGZAG;
        throw new IllegalArgumentException("unknown attention mode '" + s + "' (use dense, star, ring or ring-zigzag)");
    }
}
