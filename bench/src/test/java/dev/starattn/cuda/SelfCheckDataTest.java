package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link SelfCheckData}'s row helpers, with which the self-check's ring section gathers and compares KV rows. */
class SelfCheckDataTest {
    @Test
    void rowsAreGatheredByPosition() {
        float[] a = {0, 1, 10, 11, 20, 21, 30, 31};
        assertTrue(java.util.Arrays.equals(new float[] {30, 31, 0, 1}, SelfCheckData.rowsAt(a, new int[] {3, 0}, 2)));
        assertTrue(java.util.Arrays.equals(new float[] {1, 2, 3}, SelfCheckData.concatAll(List.of(new float[] {1}, new float[] {2, 3}))));
    }
}
