package dev.starattn.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** What of {@link CudaSelfCheck} runs without a GPU: the helpers its ring section compares rows with. */
class CudaSelfCheckTest {
    @Test
    void rowsAreGatheredByPosition() {
        float[] a = {0, 1, 10, 11, 20, 21, 30, 31};
        assertTrue(java.util.Arrays.equals(new float[] {30, 31, 0, 1}, CudaSelfCheck.rowsAt(a, new int[] {3, 0}, 2)));
        assertTrue(java.util.Arrays.equals(new float[] {1, 2, 3}, CudaSelfCheck.concatAll(List.of(new float[] {1}, new float[] {2, 3}))));
    }
}
