package dev.starattn.engine.strategy;

import dev.starattn.engine.BlockPlan;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.List;
import java.util.function.Predicate;

/** One host, ordinary causal attention over the whole context: one segment from position 0, no prefix. */
final class DenseStrategy implements AttentionStrategy {
    @Override
    public String name() {
        return "dense";
    }

    @Override
    public int hosts(int requested) {
        return 1;
    }

    @Override
    public boolean blockwise() {
        return false;
    }

    @Override
    public boolean queryHostHoldsContext() {
        return true;
    }

    @Override
    public List<EncodeTask> plan(int[] context, EngineOptions options) {
        return List.of(EncodeTask.of(List.of(BlockTask.plain(0, context, BlockPlan.range(0, context.length)))));
    }

    @Override
    public void encode(int[] context, EngineOptions options, List<? extends ContextHost> hosts, ProgressListener progress) {
        if (hosts.size() != 1) throw new IllegalArgumentException("dense attention runs on one host, not " + hosts.size());
        hosts.getFirst().encode(plan(context, options).getFirst(), progress);
    }

    @Override
    public long[] phase1Flops(DecoderConfig c, int[] context, EngineOptions options, Predicate<BlockTask> cached) {
        long n = context.length;
        return new long[] {n * c.linearFlopsPerToken() + FlopModel.causalPairs(n) * FlopModel.attentionFlopsPerPair(c)};
    }
}
