package dev.starattn.engine.strategy;

import dev.starattn.engine.BlockPlan;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import java.util.function.ToLongFunction;

/**
 * Star Attention: blocks of b tokens (the last may be shorter, no padding), dealt to hosts in contiguous runs, the
 * first hosts one more block when the count does not divide; every block after the first is prefixed by an anchor
 * (encoded with it, then discarded). Hosts need no communication.
 */
public final class StarStrategy implements AttentionStrategy {
    StarStrategy() {}

    @Override
    public String name() {
        return "star";
    }

    @Override
    public int hosts(int requested) {
        return requested;
    }

    @Override
    public boolean blockwise() {
        return true;
    }

    @Override
    public boolean queryHostHoldsContext() {
        return true;
    }

    @Override
    public List<EncodeTask> plan(int[] context, EngineOptions options) {
        List<EncodeTask> out = new ArrayList<>();
        for (List<BlockTask> mine : blocks(context, options)) out.add(EncodeTask.of(mine));
        return out;
    }

    @Override
    public void encode(int[] context, EngineOptions options, List<? extends ContextHost> hosts, ProgressListener progress) {
        Phase1.independently(hosts, plan(context, options.withHosts(hosts.size())), progress);
    }

    /** Each host needs a block, and an anchor is at most one block. */
    @Override
    public void requireSplit(int n, EngineOptions o) {
        AttentionStrategy.super.requireSplit(n, o);
        int b = o.effectiveBlockSize(n);
        int a = o.effectiveAnchorSize(n);
        int blocks = (n + b - 1) / b;
        if (blocks < o.hosts()) {
            throw new IllegalArgumentException("--hosts " + o.hosts() + " is more than the " + count(blocks, "block") + " of "
                    + count(b, "token") + " that a context of " + count(n, "token") + " makes; each host needs a block: use --hosts "
                    + blocks + " or fewer" + (o.blockSize() > 0 ? " or a smaller --block-size" : ""));
        }
        if (a > b) {
            throw new IllegalArgumentException("--anchor-size " + a + " is larger than the block of " + b + " tokens; an anchor is at most one block");
        }
    }

    private static String count(int k, String noun) {
        return k + " " + noun + (k == 1 ? "" : "s");
    }

    /** Star phase-1 blocks per host: host h gets {@code result.get(h)}, at least one block. */
    public List<List<BlockTask>> blocks(int[] context, EngineOptions o) {
        requireSplit(context.length, o);
        int n = context.length;
        int b = o.effectiveBlockSize(n);
        int a = o.effectiveAnchorSize(n);
        int blocks = (n + b - 1) / b;
        int hosts = o.hosts();
        List<List<BlockTask>> plan = new ArrayList<>();
        int next = 0;
        for (int h = 0; h < hosts; h++) {
            int count = blocks / hosts + (h < blocks % hosts ? 1 : 0);
            List<BlockTask> mine = new ArrayList<>();
            for (int i = 0; i < count; i++, next++) {
                int start = next * b, end = Math.min(n, start + b);
                int[] tokens = Arrays.copyOfRange(context, start, end);
                int[] pos = BlockPlan.range(start, end);
                int anchorLen = next == 0 ? 0 : Math.min(a, start);
                mine.add(new BlockTask(next, tokens, pos, anchorTokens(context, start, anchorLen, o),
                        anchorPositions(start, anchorLen, o, next)));
            }
            plan.add(mine);
        }
        return plan;
    }

    private static int[] anchorTokens(int[] c, int start, int len, EngineOptions o) {
        if (len == 0) return new int[0];
        return switch (o.anchorContent()) {
            case FIRST -> Arrays.copyOfRange(c, 0, len);
            case PREVIOUS -> Arrays.copyOfRange(c, start - len, start);
            case SHUFFLED -> {
                int[] t = Arrays.copyOfRange(c, 0, len);
                Random r = new Random(o.seed() * 31 + 17); // the same shuffle for every block
                for (int i = t.length - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int tmp = t[i];
                    t[i] = t[j];
                    t[j] = tmp;
                }
                yield t;
            }
            case RANDOM -> new Random(o.seed() * 31 + 29).ints(len, 0, c.length).map(i -> c[i]).toArray(); // the same for every block
        };
    }

    private static int[] anchorPositions(int start, int len, EngineOptions o, int block) {
        if (len == 0) return new int[0];
        return switch (o.anchorPositions()) {
            case ORIGINAL -> BlockPlan.range(0, len);
            case ADJACENT -> BlockPlan.range(start - len, start);
            case RANDOM -> {
                Random r = new Random(o.seed() * 1_000_003L + block);
                yield r.ints(0, start).distinct().limit(len).sorted().toArray();
            }
        };
    }

    /** A cache hit costs no FLOPs, and a host whose blocks all hit does not encode its anchor either. */
    @Override
    public long[] phase1Flops(DecoderConfig c, int[] context, EngineOptions o, Predicate<BlockTask> cached) {
        // As SegmentEncoder: a block whose anchor equals the last one the host computed uses that one.
        return blockFlops(c, blocks(context, o), cached, (last, b) -> b.sameAnchor(last), b -> 0);
    }

    /**
     * Phase-1 FLOPs per host of star's blocks (star's and star-pass's): each block's linear work and its attention
     * over its anchor and itself, plus {@code extraPairs} of it (asked of every block in context order, cached or
     * not); an anchor is counted when the host computes it, not for a block that {@code shares} the last computed
     * one ({@code shares(lastAnchored, block)}). A cached block costs nothing and computes no anchor.
     */
    static long[] blockFlops(DecoderConfig c, List<List<BlockTask>> plan, Predicate<BlockTask> cached,
                             BiPredicate<BlockTask, BlockTask> shares, ToLongFunction<BlockTask> extraPairs) {
        long lin = c.linearFlopsPerToken();
        long att = FlopModel.attentionFlopsPerPair(c);
        long[] out = new long[plan.size()];
        for (int h = 0; h < plan.size(); h++) {
            long f = 0;
            BlockTask lastAnchored = null;
            for (BlockTask b : plan.get(h)) {
                long extra = extraPairs.applyAsLong(b);
                if (cached.test(b)) continue;
                long m = b.tokens().length, a = b.anchorTokens().length;
                if (a > 0 && (lastAnchored == null || !shares.test(lastAnchored, b))) {
                    f += a * lin + FlopModel.causalPairs(a) * att;
                    lastAnchored = b;
                }
                f += m * lin + (FlopModel.causalPairs(m) + m * a + extra) * att;
            }
            out[h] = f;
        }
        return out;
    }
}
