package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.attention.KvType;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.strategy.AttentionStrategy;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.EngineOptions;
import picocli.CommandLine.Option;

/** The options of generate that choose how a context is spread and encoded. */
public final class EngineMixin {
    @Option(names = "--attention", defaultValue = "star", description = "dense, star, star-pass, ring, ring-zigzag, or auto (dense, star or star-pass, "
            + "whichever the FLOP model and this machine's measured throughput predict fastest) (default: ${DEFAULT-VALUE}).")
    String attention;

    @Option(names = "--pass-tokens", description = "star-pass: KV rows each block passes to the later hosts per layer (default: "
            + dev.starattn.engine.strategy.StarPassStrategy.DEFAULT_PASS_TOKENS + ").")
    Integer passTokens;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts, 1 to " + EngineOptions.MAX_HOSTS
            + "; each needs at least one block of the context (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--host-addrs", split = ",", description = "Remote context hosts host:port,... (started with 'starattn host'); "
            + "star: they hold the first blocks, this process the last ones and the query; ring, ring-zigzag: they hold "
            + "the whole context and pass KV to each other, this process holds the query.")
    java.util.List<String> hostAddrs;

    @Option(names = "--block-size", description = "Tokens per context block (default: context / hosts).")
    Integer blockSize;

    @Option(names = "--anchor-size", defaultValue = "-1", description = "Anchor tokens; -1 = the strategy's (star: the block size, "
            + "star-pass: a quarter of it), 0 = no anchor.")
    int anchorSize;

    @Option(names = "--anchor-positions", defaultValue = "original", description = "original, adjacent or random.")
    String anchorPositions;

    @Option(names = "--anchor-content", defaultValue = "first", description = "first, previous, shuffled or random (tokens drawn from the whole context).")
    String anchorContent;

    @Option(names = "--kv-type", description = "KV cache element type of keys and values: f32, f16 or q8_0 (default: f32).")
    String kvType;

    @Option(names = "--kv-type-k", description = "Element type of the cached keys (default: --kv-type).")
    String kvTypeK;

    @Option(names = "--kv-type-v", description = "Element type of the cached values (default: --kv-type).")
    String kvTypeV;

    @picocli.CommandLine.Mixin
    BlockCacheMixin cache;

    /** CPU hosts: bounds the activations; GPU hosts take more, as cuDNN builds one attention plan per chunk shape. */
    public static final int CPU_PREFILL_CHUNK = 1024, GPU_PREFILL_CHUNK = 8192;

    @Option(names = "--prefill-chunk", description = "Most tokens pushed through the model at once (default: "
            + CPU_PREFILL_CHUNK + " on the CPU, " + GPU_PREFILL_CHUNK + " on a GPU).")
    Integer prefillChunk;

    /** The chunk of GPU context hosts: --prefill-chunk when given, else the GPU default. */
    int gpuPrefillChunk() {
        return prefillChunk != null ? prefillChunk : GPU_PREFILL_CHUNK;
    }

    /** The options the flags give; any value out of range is a {@link UsageException}, found before the model loads. */
    public EngineOptions options(long seed) {
        return UsageException.check(() -> parseOptions(seed));
    }

    private EngineOptions parseOptions(long seed) {
        if (blockSize != null && blockSize < 1) {
            throw new UsageException("--block-size must be at least 1 token, got " + blockSize + "; leave it out for context / hosts");
        }
        if (auto() && passTokens != null) throw new IllegalArgumentException("--pass-tokens applies to --attention star-pass, not auto");
        // auto: star stands in until the context's length is known (chooseAttention).
        AttentionStrategy strategy = auto() ? Strategies.STAR : Strategies.byName(attention, passTokens);
        AnchorPositions ap;
        AnchorContent ac;
        try {
            ap = AnchorPositions.parse(anchorPositions);
            ac = AnchorContent.parse(anchorContent);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--anchor-positions takes original, adjacent or random and --anchor-content takes first, previous, shuffled or random");
        }
        if (remote() && !strategy.splitsContext()) {
            throw new IllegalArgumentException("--host-addrs spreads the context over context hosts; " + strategy.name()
                    + " keeps it on the query host: drop --host-addrs");
        }
        if (prefillChunk != null && prefillChunk < 1) throw new IllegalArgumentException("--prefill-chunk must be at least 1, got " + prefillChunk);
        if (!strategy.splitsContext() && (hosts < 1 || hosts > EngineOptions.MAX_HOSTS)) {
            throw new UsageException("--hosts takes 1 to " + EngineOptions.MAX_HOSTS + ", got " + hosts);
        }
        return new EngineOptions(strategy, strategy.hosts(hosts), blockSize == null ? 0 : blockSize, anchorSize, ap, ac,
                prefillChunk != null ? prefillChunk : CPU_PREFILL_CHUNK, seed,
                kvType(kvTypeK, "--kv-type-k"), kvType(kvTypeV, "--kv-type-v"));
    }

    private KvType kvType(String specific, String flag) {
        String s = specific != null ? specific : kvType != null ? kvType : "f32";
        try {
            return KvType.parse(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException((specific != null ? flag : "--kv-type") + " takes f32, f16 or q8_0, not '" + s + "'");
        }
    }

    /** The block cache the flags ask for (star attention only), or null when --cache-dir is not given. */
    public BlockCache blockCache(dev.starattn.model.LoadedModel model, java.io.PrintWriter err) {
        return cache.create(model, w -> {
            err.println("warning: " + w);
            err.flush();
        });
    }

    /** "512m", "2g", "100k" or a plain byte count. */
    public static long parseSize(String s, String flag) {
        String t = s.trim().toLowerCase(java.util.Locale.ROOT);
        long mult = 1;
        if (t.endsWith("b")) t = t.substring(0, t.length() - 1);
        if (t.endsWith("k")) mult = 1L << 10;
        else if (t.endsWith("m")) mult = 1L << 20;
        else if (t.endsWith("g")) mult = 1L << 30;
        else if (t.endsWith("t")) mult = 1L << 40;
        if (mult > 1) t = t.substring(0, t.length() - 1);
        try {
            double v = Double.parseDouble(t);
            if (v < 0 || Double.isNaN(v)) throw new NumberFormatException();
            return (long) (v * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " takes a size such as 512m or 2g, not '" + s + "'");
        }
    }

    /** True for {@code --attention auto}: the strategy is chosen once the context is tokenized ({@link #chooseAttention}). */
    public boolean auto() {
        return attention != null && attention.trim().equalsIgnoreCase(dev.starattn.engine.strategy.AutoAttention.NAME);
    }

    /**
     * {@code --attention auto} for a context of {@code n} tokens: what the hosts these flags name would run (remote
     * hosts and GPUs at once, in-process CPU hosts in turn), at this machine's measured throughput.
     */
    public dev.starattn.engine.strategy.AutoAttention.Choice chooseAttention(dev.starattn.model.DecoderModel model, EngineOptions asked,
                                                                            int n, boolean gpu) {
        EngineOptions o = remote() ? asked.withHosts(hostAddrs().size()) : asked;
        return dev.starattn.engine.strategy.AutoAttention.Picker.of(model, o,
                dev.starattn.engine.strategy.AutoAttention.Placement.of(remote(), gpu)).choose(n);
    }

    /** True when remote context hosts are named. */
    public boolean remote() {
        return hostAddrs != null && !hostAddrs.isEmpty();
    }

    public java.util.List<String> hostAddrs() {
        return hostAddrs == null ? java.util.List.of() : hostAddrs;
    }
}
