package dev.starattn.app.cli;

import dev.starattn.attention.KvType;
import dev.starattn.engine.AnchorContent;
import dev.starattn.engine.AnchorPositions;
import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import picocli.CommandLine.Option;

/** The options that choose how a context is spread and encoded, shared by generate, demo and bench. */
public final class EngineMixin {
    @Option(names = "--attention", defaultValue = "star", description = "dense, star, ring or ring-zigzag (default: ${DEFAULT-VALUE}).")
    String attention;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--host-addrs", split = ",", description = "Remote context hosts host:port,... (started with 'starattn host'); "
            + "they hold the first blocks, this process the last ones and the query (star only).")
    java.util.List<String> hostAddrs;

    @Option(names = "--block-size", defaultValue = "0", description = "Tokens per context block; 0 = context / hosts.")
    int blockSize;

    @Option(names = "--anchor-size", defaultValue = "-1", description = "Anchor tokens; -1 = the block size, 0 = no anchor.")
    int anchorSize;

    @Option(names = "--anchor-positions", defaultValue = "original", description = "original, adjacent or random.")
    String anchorPositions;

    @Option(names = "--anchor-content", defaultValue = "first", description = "first, previous or shuffled.")
    String anchorContent;

    @Option(names = "--kv-type", defaultValue = "f32", description = "KV cache element type: f32 or f16 (default: ${DEFAULT-VALUE}).")
    String kvType;

    @Option(names = "--prefill-chunk", defaultValue = "1024", description = "Most tokens pushed through the model at once.")
    int prefillChunk;

    public EngineOptions options(long seed) {
        AttentionMode mode = AttentionMode.parse(attention);
        AnchorPositions ap;
        AnchorContent ac;
        try {
            ap = AnchorPositions.parse(anchorPositions);
            ac = AnchorContent.parse(anchorContent);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--anchor-positions takes original, adjacent or random and --anchor-content takes first, previous or shuffled");
        }
        if (remote() && mode != AttentionMode.STAR) {
            throw new IllegalArgumentException("--host-addrs runs star attention only (ring over the network is not implemented); drop --attention "
                    + attention + " or use --hosts N for in-process hosts");
        }
        return new EngineOptions(mode, mode == AttentionMode.DENSE ? 1 : hosts, blockSize, anchorSize, ap, ac, prefillChunk, seed,
                KvType.parse(kvType));
    }

    /** True when remote context hosts are named. */
    public boolean remote() {
        return hostAddrs != null && !hostAddrs.isEmpty();
    }

    public java.util.List<String> hostAddrs() {
        return hostAddrs == null ? java.util.List.of() : hostAddrs;
    }
}
