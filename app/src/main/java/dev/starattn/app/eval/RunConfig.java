package dev.starattn.app.eval;

import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.EngineOptions;
import java.util.Locale;

/**
 * One way of running the context: dense, or star/ring over {@code hosts} hosts with a block size
 * ({@code auto} = ceil(N/H), a token count, or {@code N/k} = a fraction of the context) and an
 * anchor size ({@code b} = the block size, a token count, or {@code b/k}).
 */
public record RunConfig(AttentionStrategy strategy, int hosts, String blockSpec, String anchorSpec,
                        AnchorPositions positions, AnchorContent content) {
    public RunConfig {
        blockSpec = blockSpec == null ? "auto" : blockSpec.trim().toLowerCase(Locale.ROOT);
        anchorSpec = anchorSpec == null ? "b" : anchorSpec.trim().toLowerCase(Locale.ROOT);
        if (!strategy.splitsContext()) {
            hosts = 1;
            blockSpec = "auto";
            anchorSpec = "b";
            positions = AnchorPositions.ORIGINAL;
            content = AnchorContent.FIRST;
        }
        if (hosts < 1) throw new IllegalArgumentException("--hosts must be at least 1");
        blockSizeOf(blockSpec, hosts, 1000);
        anchorSizeOf(anchorSpec, 100);
    }

    /** A built-in strategy by its constant. */
    public RunConfig(AttentionMode mode, int hosts, String blockSpec, String anchorSpec, AnchorPositions positions, AnchorContent content) {
        this(mode.strategy(), hosts, blockSpec, anchorSpec, positions, content);
    }

    public static RunConfig dense() {
        return new RunConfig(Strategies.DENSE, 1, "auto", "b", AnchorPositions.ORIGINAL, AnchorContent.FIRST);
    }

    public RunConfig withBlock(String spec) {
        return new RunConfig(strategy, hosts, spec, anchorSpec, positions, content);
    }

    public RunConfig withAnchor(String spec) {
        return new RunConfig(strategy, hosts, blockSpec, spec, positions, content);
    }

    public RunConfig withAnchorKind(AnchorPositions p, AnchorContent c) {
        return new RunConfig(strategy, hosts, blockSpec, anchorSpec, p, c);
    }

    /** Whether block and anchor sizes apply (star). */
    public boolean isStar() {
        return strategy.blockwise();
    }

    /** The block size for a context of n tokens. */
    public int blockSize(int n) {
        return blockSizeOf(blockSpec, hosts, n);
    }

    private static int blockSizeOf(String blockSpec, int hosts, int n) {
        if (blockSpec.equals("auto") || blockSpec.equals("0")) return Math.max(1, (n + hosts - 1) / hosts);
        if (blockSpec.startsWith("n/")) return Math.max(1, (int) Math.ceil(n / (double) parsePositive(blockSpec.substring(2), "--block-size")));
        return parsePositive(blockSpec, "--block-size");
    }

    /** The anchor spec that leaves the anchor to the strategy ({@code AttentionStrategy.defaultAnchorSize}). */
    public static final String STRATEGY_ANCHOR = "default";

    /** The anchor size for a context of n tokens and block size b. */
    public int anchorSize(int n, int b) {
        if (anchorSpec.equals(STRATEGY_ANCHOR)) return strategy.defaultAnchorSize(b);
        return anchorSizeOf(anchorSpec, b);
    }

    private static int anchorSizeOf(String anchorSpec, int b) {
        if (anchorSpec.equals("b") || anchorSpec.equals("default") || anchorSpec.equals("-1")) return b;
        if (anchorSpec.startsWith("b/")) return Math.max(1, b / parsePositive(anchorSpec.substring(2), "--anchor-size"));
        int a;
        try {
            a = Integer.parseInt(anchorSpec);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--anchor-size takes a token count, b or b/K, got '" + anchorSpec + "'");
        }
        if (a < 0) throw new IllegalArgumentException("--anchor-size must be 0 or more");
        return a;
    }

    private static int parsePositive(String s, String opt) {
        try {
            int v = Integer.parseInt(s.trim());
            if (v > 0) return v;
        } catch (NumberFormatException ignored) {
            // fall through
        }
        throw new IllegalArgumentException(opt + " takes auto, a positive token count or N/K (b/K for anchors), got '" + s + "'");
    }

    /** Engine options for a context of n tokens. */
    public EngineOptions options(int n, long seed) {
        if (!strategy.splitsContext()) return EngineOptions.of(strategy, 1);
        int b = strategy.blockwise() ? blockSize(n) : 0;
        int a = strategy.blockwise() ? anchorSize(n, blockSize(n)) : -1;
        return EngineOptions.of(strategy, hosts).withBlockSize(b).withAnchorSize(a).withAnchor(positions, content).withSeed(seed);
    }

    /** A unique, readable label: the resume key and the report's column. */
    public String key() {
        if (!strategy.splitsContext()) return strategy.name();
        StringBuilder sb = new StringBuilder(strategy.name()).append(" H=").append(hosts);
        if (strategy.blockwise()) {
            sb.append(" b=").append(blockSpec).append(" a=").append(anchorSpec);
            if (positions != AnchorPositions.ORIGINAL) sb.append(" pos=").append(positions.name().toLowerCase(Locale.ROOT));
            if (content != AnchorContent.FIRST) sb.append(" content=").append(content.name().toLowerCase(Locale.ROOT));
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return key();
    }
}
