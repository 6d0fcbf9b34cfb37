package dev.starattn.engine;

import dev.starattn.attention.KvType;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;

/**
 * How a context is spread and encoded.
 *
 * @param strategy    how phase 1 runs ({@link Strategies}); {@code hosts} is what it was asked for (see {@link AttentionStrategy#hosts})
 * @param blockSize   tokens per context block; 0 = ceil(N / hosts), one block per host
 * @param anchorSize  anchor tokens; -1 = the block size (the paper's default); 0 = no anchor
 * @param prefillChunk the most tokens pushed through the model at once (bounds activation memory)
 * @param kvTypeK     element type of the cached keys (f16 halves their memory, q8_0 about quarters it;
 *                    arithmetic and the merge stay fp32)
 * @param kvTypeV     element type of the cached values, chosen independently of the keys
 */
public record EngineOptions(AttentionStrategy strategy, int hosts, int blockSize, int anchorSize,
                            AnchorPositions anchorPositions, AnchorContent anchorContent,
                            int prefillChunk, long seed, KvType kvTypeK, KvType kvTypeV) {
    /** Keys and values of one type. */
    public EngineOptions(AttentionStrategy strategy, int hosts, int blockSize, int anchorSize,
                         AnchorPositions anchorPositions, AnchorContent anchorContent,
                         int prefillChunk, long seed, KvType kvType) {
        this(strategy, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvType, kvType);
    }

    /** A built-in strategy by its constant, keys and values of one type. */
    public EngineOptions(AttentionMode mode, int hosts, int blockSize, int anchorSize,
                         AnchorPositions anchorPositions, AnchorContent anchorContent,
                         int prefillChunk, long seed, KvType kvType) {
        this(mode.strategy(), hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvType, kvType);
    }

    /**
     * The most context hosts one engine plans for. Each in-process host allocates its own KV
     * shard up front, so an absurd count exhausts the heap before any work; no deployment of this
     * engine comes near it.
     */
    public static final int MAX_HOSTS = 1024;

    public EngineOptions {
        if (strategy == null) throw new IllegalArgumentException("an attention strategy must be given");
        if (kvTypeK == null || kvTypeV == null) throw new IllegalArgumentException("KV types must be given");
        if (hosts < 1 || hosts > MAX_HOSTS) throw new IllegalArgumentException("--hosts takes 1 to " + MAX_HOSTS + ", got " + hosts);
        if (blockSize < 0) throw new IllegalArgumentException("--block-size must be positive (or 0 for auto), got " + blockSize);
        if (anchorSize < -1) throw new IllegalArgumentException("--anchor-size must be 0 or more, got " + anchorSize);
        if (blockSize > 0 && anchorSize > blockSize) {
            throw new IllegalArgumentException("--anchor-size " + anchorSize + " is larger than the block of " + blockSize
                    + " tokens; an anchor is at most one block");
        }
        if (prefillChunk < 1) throw new IllegalArgumentException("prefill chunk must be positive");
    }

    /**
     * Refuses a context of {@code n} tokens that these hosts cannot share ({@link AttentionStrategy#requireSplit}),
     * in the sentence the CLI prints.
     */
    public void requireSplit(int n) {
        strategy.requireSplit(n, this);
    }

    public static EngineOptions dense() {
        return of(Strategies.DENSE, 1);
    }

    /** {@code strategy} over as many of {@code hosts} as it uses, every other option its default. */
    public static EngineOptions of(AttentionStrategy strategy, int hosts) {
        return new EngineOptions(strategy, strategy.hosts(hosts), 0, -1,
                AnchorPositions.ORIGINAL, AnchorContent.FIRST, 1024, 0, KvType.F32);
    }

    public static EngineOptions of(AttentionMode mode, int hosts) {
        return of(mode.strategy(), hosts);
    }

    public EngineOptions withBlockSize(int b) {
        return new EngineOptions(strategy, hosts, b, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withAnchorSize(int a) {
        return new EngineOptions(strategy, hosts, blockSize, a, anchorPositions, anchorContent, prefillChunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withAnchor(AnchorPositions p, AnchorContent c) {
        return new EngineOptions(strategy, hosts, blockSize, anchorSize, p, c, prefillChunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withPrefillChunk(int chunk) {
        return new EngineOptions(strategy, hosts, blockSize, anchorSize, anchorPositions, anchorContent, chunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withKvType(KvType t) {
        return new EngineOptions(strategy, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, t, t);
    }

    /** Keys of type {@code k}, values of type {@code v}. */
    public EngineOptions withKvTypes(KvType k, KvType v) {
        return new EngineOptions(strategy, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, k, v);
    }

    /** The key type (the one type of both when they are equal). */
    public KvType kvType() {
        return kvTypeK;
    }

    public EngineOptions withHosts(int h) {
        return new EngineOptions(strategy, h, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withStrategy(AttentionStrategy s) {
        return new EngineOptions(s, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvTypeK, kvTypeV);
    }

    public EngineOptions withSeed(long s) {
        return new EngineOptions(strategy, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, s, kvTypeK, kvTypeV);
    }

    /** The hosts the strategy uses of the {@link #hosts} asked for (dense: 1). */
    public int hostsUsed() {
        return strategy.hosts(hosts);
    }

    /** The block size for a context of n tokens. */
    public int effectiveBlockSize(int n) {
        if (blockSize > 0) return blockSize;
        return Math.max(1, (n + hosts - 1) / hosts);
    }

    /** The anchor size for a context of n tokens. */
    public int effectiveAnchorSize(int n) {
        return anchorSize < 0 ? strategy.defaultAnchorSize(effectiveBlockSize(n)) : anchorSize;
    }
}
