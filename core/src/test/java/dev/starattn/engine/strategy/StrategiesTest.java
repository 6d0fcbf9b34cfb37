package dev.starattn.engine.strategy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.BlockTask;
import dev.starattn.engine.EncodeTask;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SegmentEncoder;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StrategiesTest {
    @Test
    void strategiesAreLookedUpByTheirCliNames() {
        for (AttentionStrategy s : Strategies.all()) assertSame(s, Strategies.byName(s.name()));
        assertSame(Strategies.RING_ZIGZAG, Strategies.byName("zigzag"));
        assertSame(Strategies.RING_ZIGZAG, Strategies.byName("RING_ZIGZAG"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Strategies.byName("spiral"));
        assertEquals("unknown attention mode 'spiral' (use dense, star, star-pass, ring or ring-zigzag)", e.getMessage());
    }

    @Test
    void hostCountsAndPlansComeFromTheStrategy() {
        assertEquals(1, EngineOptions.of(Strategies.DENSE, 4).hosts());
        assertEquals(4, EngineOptions.of(Strategies.STAR, 4).hostsUsed());
        int[] ctx = new int[10];
        List<EncodeTask> ring = Strategies.RING.plan(ctx, EngineOptions.of(Strategies.RING, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, ring.get(0).blocks().getFirst().positions());
        List<EncodeTask> zigzag = Strategies.RING_ZIGZAG.plan(ctx, EngineOptions.of(Strategies.RING_ZIGZAG, 2));
        assertArrayEquals(new int[] {0, 1, 7, 8, 9}, zigzag.get(0).blocks().getFirst().positions());
        List<EncodeTask> star = Strategies.STAR.plan(ctx, EngineOptions.of(Strategies.STAR, 2).withBlockSize(3));
        assertEquals(List.of(2, 2), star.stream().map(t -> t.blocks().size()).toList());  // 4 blocks of 3, 3, 3, 1
        assertEquals(0, star.get(0).blocks().get(0).anchorTokens().length);
        assertEquals(3, star.get(1).blocks().get(0).anchorTokens().length);
    }

    /** The random-token anchor (Table 4's control): tokens of the context, not its first ones in order, the same for every block. */
    @Test
    void aRandomAnchorDrawsContextTokensTheSameForEveryBlock() {
        int[] ctx = new int[400];
        for (int i = 0; i < ctx.length; i++) ctx[i] = 1000 + i;
        EngineOptions o = EngineOptions.of(Strategies.STAR, 4).withBlockSize(100).withAnchorSize(50)
                .withAnchor(dev.starattn.engine.AnchorPositions.ORIGINAL, dev.starattn.engine.AnchorContent.RANDOM).withSeed(3);
        List<BlockTask> blocks = Strategies.STAR.blocks(ctx, o).stream().flatMap(List::stream).toList();
        int[] anchor = blocks.get(1).anchorTokens();
        assertEquals(50, anchor.length);
        for (int t : anchor) assertTrue(t >= 1000 && t < 1400, "a token of the context");
        assertTrue(java.util.Arrays.stream(anchor).anyMatch(t -> t >= 1050), "drawn from the whole context, not its first tokens");
        assertArrayEquals(anchor, blocks.get(3).anchorTokens());
        assertArrayEquals(anchor, Strategies.STAR.blocks(ctx, o).get(2).getFirst().anchorTokens(), "seeded");
    }

    @Test
    void aRingShareIsOneSegment() {
        BlockTask a = BlockTask.plain(0, new int[] {1}, new int[] {0}), b = BlockTask.plain(1, new int[] {2}, new int[] {1});
        assertThrows(IllegalArgumentException.class, () -> new EncodeTask(List.of(a, b), new EncodeTask.RingLink("r", 0, List.of())));
    }

    /**
     * The prefix (anchor) is computed once per distinct prefix and only the segments' rows are kept; a prefix no
     * later segment shares is computed in its segment's own caches, not copied.
     */
    @Test
    void aSharedPrefixIsEncodedOnce() {
        List<String> calls = new ArrayList<>();
        List<Integer> kept = new ArrayList<>();
        List<String> made = new ArrayList<>();
        SegmentEncoder.Device<Integer> d = new SegmentEncoder.Device<>() {
            @Override
            public Integer[] fresh(int capacity) {
                made.add("fresh " + capacity);
                return new Integer[] {0};
            }

            @Override
            public Integer[] copyOf(Integer[] prefix, int rows, int more) {
                made.add("copy " + rows + " + " + more);
                return new Integer[] {rows};
            }

            @Override
            public void prefill(int[] tokens, int[] positions, Integer[] caches) {
                calls.add("prefill " + tokens.length + " after " + caches[0]);
                caches[0] += tokens.length;
            }

            @Override
            public void keep(Integer[] local, int from, int rows) {
                kept.add(rows);
                assertEquals(local[0], from + rows);
            }
        };
        int[] anchor = {9, 9}, anchorPos = {0, 1};
        List<BlockTask> blocks = List.of(
                new BlockTask(1, new int[] {1, 2, 3}, new int[] {2, 3, 4}, anchor, anchorPos),
                new BlockTask(2, new int[] {4, 5}, new int[] {5, 6}, anchor.clone(), anchorPos.clone()),
                new BlockTask(3, new int[] {6}, new int[] {7}, new int[] {8, 8}, anchorPos));
        HostStats stats = new HostStats("h");
        SegmentEncoder.encode(d, "h", stats, blocks, ProgressListener.NONE);
        assertEquals(List.of("prefill 2 after 0", "prefill 3 after 2", "prefill 2 after 2", "prefill 2 after 0", "prefill 1 after 2"), calls);
        assertEquals(List.of(3, 2, 1), kept);
        assertEquals(List.of("fresh 2", "copy 2 + 3", "copy 2 + 2", "fresh 3"), made);
        assertEquals(3, stats.blocks);
        assertEquals(6, stats.tokens);
        assertTrue(stats.phase1Nanos == 0);
    }
}
