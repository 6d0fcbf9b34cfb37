package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.starattn.engine.strategy.Strategies;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

/**
 * What the library refuses before any work: host counts beyond what a context can be split into
 * (or beyond {@link EngineOptions#MAX_HOSTS}), anchors longer than a block, and sampling
 * parameters that are not numbers in range. Each with the sentence the CLI prints.
 */
class SplitLimitsTest {
    static void refused(String sentence, Executable e) {
        assertEquals(sentence, assertThrows(IllegalArgumentException.class, e).getMessage());
    }

    static EngineOptions star(int hosts) {
        return EngineOptions.of(AttentionMode.STAR, hosts);
    }

    @Test
    void hostCountIsBounded() {
        refused("--hosts takes 1 to 1024, got 100000", () -> star(100000));
        refused("--hosts takes 1 to 1024, got 0", () -> star(0));
        refused("--hosts takes 1 to 1024, got 1025", () -> EngineOptions.of(AttentionMode.RING, 1025));
        assertEquals(1024, star(1024).hosts());
    }

    @Test
    void anchorLongerThanTheBlockIsRefused() {
        refused("--anchor-size 100 is larger than the block of 30 tokens; an anchor is at most one block",
                () -> star(4).withBlockSize(30).withAnchorSize(100));
        assertEquals(30, star(4).withBlockSize(30).withAnchorSize(30).anchorSize());
        // With the block size left to the context (N / hosts), known only with the context.
        EngineOptions auto = star(2).withAnchorSize(6);
        refused("--anchor-size 6 is larger than the block of 5 tokens; an anchor is at most one block",
                () -> Strategies.STAR.blocks(new int[10], auto));
        assertEquals(2, Strategies.STAR.blocks(new int[12], auto).size());
    }

    @Test
    void starNeedsABlockPerHost() {
        refused("--hosts 8 is more than the 2 blocks of 150 tokens that a context of 203 tokens makes; each host needs a block:"
                + " use --hosts 2 or fewer or a smaller --block-size", () -> Strategies.STAR.blocks(new int[203], star(8).withBlockSize(150)));
        // Blocks of ceil(5/4) = 2 make 3 blocks: the fourth host would be idle.
        refused("--hosts 4 is more than the 3 blocks of 2 tokens that a context of 5 tokens makes; each host needs a block:"
                + " use --hosts 3 or fewer", () -> Strategies.STAR.blocks(new int[5], star(4)));
        refused("--hosts 2 is more than the 1 block of 1 token that a context of 1 token makes; each host needs a block:"
                + " use --hosts 1 or fewer", () -> Strategies.STAR.blocks(new int[1], star(2)));
        assertEquals(3, Strategies.STAR.blocks(new int[5], star(3)).size());
        for (var host : Strategies.STAR.blocks(new int[5], star(3))) assertEquals(false, host.isEmpty());
    }

    @Test
    void ringNeedsATokenPerHost() {
        refused("--hosts 8 is more than a context of 5 tokens can be split into for ring attention (each host holds at least one"
                + " token): use --hosts 5 or fewer", () -> Strategies.RING.shares(5, 8));
        refused("--hosts 3 is more than a context of 5 tokens can be split into for ring-zigzag attention (each host holds two"
                + " chunks of at least one token): use --hosts 2 or fewer", () -> Strategies.RING_ZIGZAG.shares(5, 3));
        for (int[] r : Strategies.RING.shares(5, 5)) assertEquals(1, r.length);
        for (int[] r : Strategies.RING_ZIGZAG.shares(5, 2)) assertEquals(true, r.length >= 2);
        assertEquals(1, Strategies.RING_ZIGZAG.shares(1, 1).getFirst().length);
    }

    /** The engine checks before it builds a host: a thousand hosts over five tokens fail at once, not by exhausting the heap. */
    @Test
    @Timeout(value = 5, unit = TimeUnit.SECONDS)
    void engineRefusesBeforeBuildingHosts() {
        InferenceEngine e = new InferenceEngine(StrategyInvariantsTest.MODEL, star(1000));
        int[] five = Arrays.copyOf(StrategyInvariantsTest.CONTEXT, 5);
        refused("--hosts 1000 is more than the 5 blocks of 1 token that a context of 5 tokens makes; each host needs a block:"
                + " use --hosts 5 or fewer", () -> e.encode(five, ProgressListener.NONE));
        refused("--hosts 1000 is more than a context of 5 tokens can be split into for ring attention (each host holds at least"
                + " one token): use --hosts 5 or fewer",
                () -> new InferenceEngine(StrategyInvariantsTest.MODEL, EngineOptions.of(AttentionMode.RING, 1000)).encode(five, ProgressListener.NONE));
        // Over remote hosts, star counts this process as one more host.
        refused("--hosts 6 is more than the 5 blocks of 1 token that a context of 5 tokens makes; each host needs a block:"
                + " use --hosts 5 or fewer", () -> InferenceEngine.checkSplit(star(2), 5, 5));
    }

    /** A server's engine fits a short document to the hosts it can be split into; the answer is the same as on those hosts. */
    @Test
    void anEngineFitsAShortContextToFewerHosts() {
        int[] five = Arrays.copyOf(StrategyInvariantsTest.CONTEXT, 5);
        InferenceEngine e = new InferenceEngine(StrategyInvariantsTest.MODEL, star(4));
        assertEquals(3, e.fittedTo(5).options().hosts());  // blocks of ceil(5/4) = 2 tokens make 3 blocks
        assertEquals(4, e.fittedTo(400).options().hosts());
        assertEquals(2, new InferenceEngine(StrategyInvariantsTest.MODEL, EngineOptions.of(AttentionMode.RING_ZIGZAG, 8)).fittedTo(5).options().hosts());
        EncodedContext fitted = e.fittedTo(5).encode(five, ProgressListener.NONE);
        assertEquals(3, fitted.hosts().size());
        assertEquals(5, fitted.hosts().stream().mapToLong(ContextHost::kvTokens).sum());
    }

    @Test
    void samplingParametersMustBeNumbersInRange() {
        refused("--temperature takes a finite number, 0 (greedy) or more, got NaN", () -> new SamplingOptions(Float.NaN, 1, 0));
        refused("--temperature takes a finite number, 0 (greedy) or more, got -0.5", () -> new SamplingOptions(-0.5f, 1, 0));
        refused("--temperature takes a finite number, 0 (greedy) or more, got Infinity",
                () -> new SamplingOptions(Float.POSITIVE_INFINITY, 1, 0));
        refused("--top-p takes a number above 0 and at most 1, got NaN", () -> new SamplingOptions(0.7f, Float.NaN, 0));
        refused("--top-p takes a number above 0 and at most 1, got 0.0", () -> new SamplingOptions(0.7f, 0, 0));
        refused("--top-p takes a number above 0 and at most 1, got 1.5", () -> new SamplingOptions(0.7f, 1.5f, 0));
        assertEquals(-3, new SamplingOptions(0.7f, 0.9f, -3).seed());
    }
}
