package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.cuda.PassMerge.Run;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The rows a star-pass block attends to before itself, in the order the CPU's PassHost builds them (no GPU needed). */
class PassMergeTest {
    private static final int A = PassMerge.ANCHOR;

    @Test
    void aLeadingAnchorComesFirstThenThePassingRowsBeforeTheBlock() {
        // Two earlier hosts' rows; 30 lies at or after the block's start and is left out.
        assertEquals(List.of(new Run(A, 0, 4), new Run(0, 0, 3), new Run(1, 0, 1)),
                PassMerge.order(new int[] {0, 1, 2, 3}, List.of(new int[] {10, 12, 20}, new int[] {25, 30}), 28));
    }

    @Test
    void anAnchorBetweenPassingRowsIsMergedByPositionAndItsPositionsAreNotPassedAgain() {
        assertEquals(List.of(new Run(0, 0, 1), new Run(A, 0, 4)),
                PassMerge.order(new int[] {8, 9, 10, 11}, List.of(new int[] {5, 9, 12}), 12));
        assertEquals(List.of(new Run(0, 0, 1), new Run(A, 0, 1), new Run(0, 1, 1), new Run(A, 1, 1), new Run(0, 2, 1), new Run(A, 2, 1),
                new Run(0, 3, 1)), PassMerge.order(new int[] {2, 4, 6}, List.of(new int[] {1, 3, 5, 7}), 100));
        // The anchor's own position splits a run of passing rows.
        assertEquals(List.of(new Run(0, 0, 2), new Run(A, 0, 1), new Run(0, 3, 1)),
                PassMerge.order(new int[] {5}, List.of(new int[] {1, 2, 5, 6}), 50));
    }

    @Test
    void withoutAnchorTheRunsFollowTheLists() {
        assertEquals(List.of(new Run(0, 0, 2), new Run(1, 0, 1)), PassMerge.order(new int[0], List.of(new int[] {1, 2}, new int[] {3}), 50));
        assertEquals(List.of(), PassMerge.order(new int[0], List.of(), 50));
    }
}
