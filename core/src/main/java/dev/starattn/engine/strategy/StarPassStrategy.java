package dev.starattn.engine.strategy;

import dev.starattn.attention.KvCache;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EncodeTask.PassRule;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.engine.PassClock;
import dev.starattn.engine.PassHost;
import dev.starattn.engine.PassSelector;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;

/**
 * Star attention with passing blocks (training-free, after APB and Spava): star's blocks and anchors, a smaller
 * anchor by default, and at every layer each block passes its {@code K} most useful KV rows, chosen without the
 * query ({@link PassSelector}), to every later block, which attends to them after the anchor at their original
 * positions. Hosts meet once per layer (a gather of the earlier hosts' rows); phase 2 is star's, exact. K = 0 is
 * star; K at least a block is dense. In-process CPU hosts are driven here through {@link PassHost}; remote hosts and
 * GPU hosts get a {@link EncodeTask.PassLink} and exchange the rows among themselves.
 */
public final class StarPassStrategy implements AttentionStrategy {
    /** The default K: on the shipped model, vt at 4K over 8 hosts, K = 64 matched dense on 30 of 30 samples (K = 16: 28). */
    public static final int DEFAULT_PASS_TOKENS = 64;
    /** Queries at a block's end whose attention chooses its rows (SnapKV's observation window). */
    public static final int WINDOW = 32;
    /** The default anchor is this fraction of a block (star's is a whole block): the passing rows carry the rest. */
    public static final int ANCHOR_DIVISOR = 4;

    /** Why a mix of host kinds is refused: one sentence. */
    public static final String MIX_REFUSAL = "star-pass runs on hosts of one kind, all CPU hosts in this process, all remote "
            + "('starattn host') or all GPU hosts (--device cuda), not a mix: use --attention star there";

    private final int passTokens;

    StarPassStrategy(int passTokens) {
        if (passTokens < 0) throw new IllegalArgumentException("--pass-tokens must be 0 or more, got " + passTokens);
        this.passTokens = passTokens;
    }

    /** This strategy passing {@code k} rows per block and layer. */
    public StarPassStrategy withPassTokens(int k) {
        return k == passTokens ? this : new StarPassStrategy(k);
    }

    public int passTokens() {
        return passTokens;
    }

    /** "star-pass" with the default K, "star-pass:K" otherwise (what {@link Strategies#byName} reads back). */
    @Override
    public String name() {
        return passTokens == DEFAULT_PASS_TOKENS ? "star-pass" : "star-pass:" + passTokens;
    }

    @Override
    public int hosts(int requested) {
        return requested;
    }

    @Override
    public boolean blockwise() {
        return true;
    }

    /** Remote hosts exchange the rows among themselves, so they hold the whole context; the query host the query. */
    @Override
    public boolean queryHostHoldsContext() {
        return false;
    }

    @Override
    public int defaultAnchorSize(int blockSize) {
        return Math.max(1, blockSize / ANCHOR_DIVISOR);
    }

    /** A gather of the earlier hosts' rows per layer. */
    @Override
    public int phase1Exchanges(DecoderConfig c, int hosts) {
        return hosts > 1 ? c.layers() : 0;
    }

    @Override
    public void requireSplit(int n, EngineOptions o) {
        Strategies.STAR.requireSplit(n, o);
    }

    @Override
    public List<EncodeTask> plan(int[] context, EngineOptions options) {
        return Strategies.STAR.plan(context, options);
    }

    /** The rule every block chooses its rows by, for a context of {@code n} tokens. */
    public PassRule rule(int n, EngineOptions o) {
        return new PassRule(passTokens, WINDOW, o.effectiveAnchorSize(n));
    }

    @Override
    public void encode(int[] context, EngineOptions options, List<? extends ContextHost> hosts, ProgressListener progress) {
        EngineOptions o = options.withHosts(hosts.size());
        List<EncodeTask> plan = plan(context, o);
        PassRule rule = rule(context.length, o);
        if (hosts.stream().allMatch(h -> h instanceof LocalContextHost)) {
            List<LocalContextHost> locals = new ArrayList<>();
            for (ContextHost h : hosts) locals.add((LocalContextHost) h);
            inProcess(locals, plan, rule, progress);
            return;
        }
        // Remote hosts exchange the rows over the network; other in-process hosts (GPU hosts) meet in their own module.
        boolean remote = hosts.getFirst().isRemote();
        if (hosts.stream().anyMatch(h -> h.isRemote() != remote || h instanceof LocalContextHost)) {
            throw new IllegalArgumentException(MIX_REFUSAL);
        }
        String runId = UUID.randomUUID().toString();
        List<EncodeTask> linked = new ArrayList<>();
        for (int h = 0; h < hosts.size(); h++) linked.add(plan.get(h).inPassRun(runId, h, hosts, rule));
        Phase1.together(hosts, linked, progress);
    }

    /**
     * Star-pass in one process: all hosts advance layer by layer; host h attends after hosts 0..h-1 have chosen
     * their rows of the layer. Each host's compute is timed to it, and the time a cluster's host would wait for the
     * earlier hosts' rows at each layer (its clock against theirs) to its phase-1 wait.
     */
    private static void inProcess(List<LocalContextHost> hosts, List<EncodeTask> plan, PassRule rule, ProgressListener progress) {
        int n = hosts.size();
        if (n == 0) return;
        DecoderConfig c = hosts.getFirst().model().config();
        PassHost[] pass = new PassHost[n];
        long[] setup = new long[n];
        List<List<String>> keys = cacheKeys(hosts, plan, rule);
        for (int h = 0; h < n; h++) {
            pass[h] = new PassHost(hosts.get(h).model(), hosts.get(h), plan.get(h).blocks(), rule, keys == null ? null : keys.get(h));
            setup[h] = pass[h].lastNanos();
        }
        PassClock clock = new PassClock(setup);
        KvCache[] own = new KvCache[n];
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < n; h++) {
                own[h] = pass[h].beginLayer(l);
                clock.began(h, pass[h].lastNanos());
            }
            KvCache earlier = null;
            for (int h = 0; h < n; h++) {
                LocalContextHost me = hosts.get(h);
                if (earlier != null) me.stats().phase1BytesReceived += earlier.bytes();
                me.stats().phase1BytesSent += own[h].bytes() * (n - 1 - h);
                me.stats().phase1WaitNanos += clock.ending(h);
                pass[h].endLayer(earlier);
                clock.ended(h, pass[h].lastNanos());
                if (own[h].size() > 0) {
                    if (earlier == null) earlier = own[h].copy(own[h].size() * (n - 1 - h));
                    else earlier.appendAll(own[h]);
                }
            }
        }
        for (int h = 0; h < n; h++) {
            LocalContextHost me = hosts.get(h);
            progress.blockDone(me.name(), plan.get(h).blocks().size(), plan.get(h).blocks().size(), me.stats().tokens);
        }
    }

    /**
     * Each block's key in the hosts' block cache ({@link BlockCache#passKey}, chained in context order: a block's KV
     * depends on every earlier block), per host; null when the hosts have no cache.
     */
    private static List<List<String>> cacheKeys(List<LocalContextHost> hosts, List<EncodeTask> plan, PassRule rule) {
        BlockCache cache = hosts.getFirst().blockCache();
        if (cache == null) return null;
        KvCache own = hosts.getFirst().cache(0);
        List<List<String>> keys = new ArrayList<>();
        String previous = "";
        for (EncodeTask t : plan) {
            List<String> mine = new ArrayList<>();
            for (BlockTask b : t.blocks()) {
                previous = cache.passKey(previous, b, rule, own.keyType(), own.valueType());
                mine.add(previous);
            }
            keys.add(mine);
        }
        return keys;
    }

    /**
     * Star's blocks with the passing rows: each block's linear work covers itself, its anchor's once per host for
     * blocks in a row that share one that leads ({@link BlockTask#anchorLeads}; as {@link PassHost} computes it),
     * its attention the anchor's own, the block over anchor + rows passed by every earlier block + itself, and
     * the choice of its rows (the window's queries over the block).
     */
    @Override
    public long[] phase1Flops(DecoderConfig c, int[] context, EngineOptions o, Predicate<BlockTask> cached) {
        PassRule rule = rule(context.length, o);
        long[] passedBefore = {0};
        return StarStrategy.blockFlops(c, Strategies.STAR.blocks(context, o), cached, (last, b) -> b.anchorLeads() && b.sameAnchor(last), b -> {
            int m = b.tokens().length;
            int skip = Math.max(0, Math.min(m, rule.skipBelow() - b.start()));
            int candidates = m - skip;
            long pairs = (long) m * passedBefore[0];
            if (PassSelector.scores(passTokens, candidates)) {
                pairs += PassSelector.pairs(m, 1, WINDOW);
                passedBefore[0] += passTokens;
            } else if (passTokens > 0) {
                passedBefore[0] += candidates;
            }
            return pairs;
        });
    }
}
