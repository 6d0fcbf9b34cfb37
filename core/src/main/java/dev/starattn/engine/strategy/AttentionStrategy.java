package dev.starattn.engine.strategy;

import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.List;
import java.util.function.Predicate;

/**
 * How a context is encoded (phase 1): how many hosts hold it, what each host encodes ({@link #plan}), and how the
 * hosts run it ({@link #encode}). Phase 2 (query and generation) is the same, exact, for every strategy: each host
 * serves attention partials over the KV it holds. Hosts expose primitives ({@link ContextHost#encode} of an
 * {@link EncodeTask}: segments after prefixes, or a ring share; {@link ContextHost#attend}); a strategy is one
 * class of this interface plus its entry in {@link Strategies}.
 */
public interface AttentionStrategy {
    /** The name on the command line and in JSON ({@code --attention NAME}). */
    String name();

    /** The hosts holding the context when {@code requested} are asked for (1 for a strategy that does not split it). */
    int hosts(int requested);

    /** Whether the context is spread over several hosts at all (false: the query host alone holds it). */
    default boolean splitsContext() {
        return hosts(2) > 1;
    }

    /**
     * Whether the context is cut into blocks of {@code --block-size} with anchors of {@code --anchor-size}: those
     * options, and a block cache, apply (and are reported) only then.
     */
    boolean blockwise();

    /**
     * Whether the query host, when the other hosts are outside this JVM's CPU (remote, or GPUs with the query host
     * on the CPU), holds a share of the context too (the last), rather than only the query's KV.
     */
    boolean queryHostHoldsContext();

    /**
     * Refuses a context of {@code n} tokens that {@code options.hosts()} hosts cannot share, each with some work, or
     * options that do not fit it (an anchor longer than a block), with the sentence the CLI prints. Called before
     * any host is built, so that a host count far beyond the context fails at once.
     */
    default void requireSplit(int n, EngineOptions options) {
        if (n < 1) throw new IllegalArgumentException("the context is empty");
    }

    /** The anchor of a block of {@code blockSize} tokens when {@code --anchor-size} is not given (star: the block). */
    default int defaultAnchorSize(int blockSize) {
        return blockSize;
    }

    /**
     * Phase-1 waits of a host for other hosts' data (per-layer exchanges) for {@code hosts} hosts: none for
     * strategies whose hosts encode on their own.
     */
    default int phase1Exchanges(DecoderConfig c, int hosts) {
        return 0;
    }

    /** What each of {@code options.hosts()} hosts encodes, in host order (an empty task: an idle host). */
    List<EncodeTask> plan(int[] context, EngineOptions options);

    /**
     * Phase 1 of {@code context} over {@code hosts} (in host order, {@code options.hosts()} of them). A failing host
     * fails the call with its name.
     */
    void encode(int[] context, EngineOptions options, List<? extends ContextHost> hosts, ProgressListener progress);

    /**
     * Predicted phase-1 FLOPs of each host for {@code context} (only its length matters unless the strategy is
     * {@link #blockwise}), blocks for which {@code cached} is true costing nothing.
     */
    long[] phase1Flops(DecoderConfig c, int[] context, EngineOptions options, Predicate<BlockTask> cached);
}
