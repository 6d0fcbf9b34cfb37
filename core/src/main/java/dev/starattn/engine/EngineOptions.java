package dev.starattn.engine;

import dev.starattn.attention.KvType;

/**
 * How a context is spread and encoded.
 *
 * @param blockSize   tokens per context block; 0 = ceil(N / hosts), one block per host
 * @param anchorSize  anchor tokens; -1 = the block size (the paper's default); 0 = no anchor
 * @param prefillChunk the most tokens pushed through the model at once (bounds activation memory)
 * @param kvType      element type of the KV caches (f16 halves their memory; arithmetic stays fp32)
 */
public record EngineOptions(AttentionMode mode, int hosts, int blockSize, int anchorSize,
                            AnchorPositions anchorPositions, AnchorContent anchorContent,
                            int prefillChunk, long seed, KvType kvType) {
    public EngineOptions {
        if (hosts < 1) throw new IllegalArgumentException("--hosts must be at least 1, got " + hosts);
        if (blockSize < 0) throw new IllegalArgumentException("--block-size must be positive (or 0 for auto), got " + blockSize);
        if (anchorSize < -1) throw new IllegalArgumentException("--anchor-size must be 0 or more, got " + anchorSize);
        if (prefillChunk < 1) throw new IllegalArgumentException("prefill chunk must be positive");
    }

    public static EngineOptions dense() {
        return new EngineOptions(AttentionMode.DENSE, 1, 0, -1, AnchorPositions.ORIGINAL, AnchorContent.FIRST, 1024, 0, KvType.F32);
    }

    public static EngineOptions of(AttentionMode mode, int hosts) {
        return new EngineOptions(mode, mode == AttentionMode.DENSE ? 1 : hosts, 0, -1,
                AnchorPositions.ORIGINAL, AnchorContent.FIRST, 1024, 0, KvType.F32);
    }

    public EngineOptions withBlockSize(int b) {
        return new EngineOptions(mode, hosts, b, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvType);
    }

    public EngineOptions withAnchorSize(int a) {
        return new EngineOptions(mode, hosts, blockSize, a, anchorPositions, anchorContent, prefillChunk, seed, kvType);
    }

    public EngineOptions withAnchor(AnchorPositions p, AnchorContent c) {
        return new EngineOptions(mode, hosts, blockSize, anchorSize, p, c, prefillChunk, seed, kvType);
    }

    public EngineOptions withPrefillChunk(int chunk) {
        return new EngineOptions(mode, hosts, blockSize, anchorSize, anchorPositions, anchorContent, chunk, seed, kvType);
    }

    public EngineOptions withKvType(KvType t) {
        return new EngineOptions(mode, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, t);
    }

    public EngineOptions withHosts(int h) {
        return new EngineOptions(mode, h, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, seed, kvType);
    }

    public EngineOptions withSeed(long s) {
        return new EngineOptions(mode, hosts, blockSize, anchorSize, anchorPositions, anchorContent, prefillChunk, s, kvType);
    }

    /** The block size for a context of n tokens. */
    public int effectiveBlockSize(int n) {
        if (blockSize > 0) return blockSize;
        return Math.max(1, (n + hosts - 1) / hosts);
    }

    /** The anchor size for a context of n tokens. */
    public int effectiveAnchorSize(int n) {
        return anchorSize < 0 ? effectiveBlockSize(n) : anchorSize;
    }
}
