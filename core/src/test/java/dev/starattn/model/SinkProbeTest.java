package dev.starattn.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.tensor.GgmlType;
import dev.starattn.testutil.ReferenceDequant;
import dev.starattn.testutil.ReferenceForward;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SinkProbe's masses against the double-precision reference forward's own attention probabilities
 * (summed over the queries it reports), for a whole prompt and for a block at its original positions.
 */
class SinkProbeTest {
    @TempDir Path dir;

    @Test
    void massesEqualTheReferenceForwardsProbabilities() {
        RandomLlamaModel rm = new RandomLlamaModel().dim(64).layers(3).heads(4).kvHeads(2).ffnDim(128)
                .vocab(300).weightType(GgmlType.F32).seed(11).contextLength(128);
        Path p = rm.write(dir.resolve("tiny.gguf"));
        Random r = new Random(3);
        int[] tokens = new int[48];
        tokens[0] = 1;
        for (int i = 1; i < tokens.length; i++) tokens[i] = 3 + r.nextInt(297);
        try (LoadedModel m = ModelLoader.load(p)) {
            ReferenceForward ref = new ReferenceForward(m.config(), ReferenceDequant.fileWeights(p));
            check(m, ref, tokens, 0);
            check(m, ref, Arrays.copyOfRange(tokens, 16, 32), 16);
        }
    }

    private static void check(LoadedModel m, ReferenceForward ref, int[] tokens, int start) {
        DecoderConfig c = m.config();
        double[][] first = new double[c.layers()][c.heads()], few = new double[c.layers()][c.heads()];
        ref.observe((l, t, h, j, pj) -> {
            if (j == 0) first[l][h] += pj / tokens.length;
            if (j < SinkProbe.FIRST) few[l][h] += pj / tokens.length;
        });
        int[] pos = new int[tokens.length];
        for (int i = 0; i < pos.length; i++) pos[i] = start + i;
        ref.logits(tokens, pos);
        SinkProbe.Masses got = SinkProbe.measure(m.model(), tokens, start);
        assertEquals(c.layers(), got.first().length);
        assertEquals(c.heads(), got.first()[0].length);
        assertEquals(tokens.length, got.tokens());
        assertEquals(start, got.startPosition());
        double spread = 0;
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < c.heads(); h++) {
                double a = got.first()[l][h], b = got.firstFew()[l][h];
                assertEquals(first[l][h], a, 1e-5, "layer " + l + " head " + h + " first");
                assertEquals(few[l][h], b, 1e-5, "layer " + l + " head " + h + " first four");
                assertTrue(a >= 0 && a <= b && b <= 1, "0 <= first <= first four <= 1");
                spread = Math.max(spread, Math.abs(a - got.uniformFirst()));
            }
        }
        // Random weights are not uniform attention: the check compares real distributions.
        assertTrue(spread > 1e-3, "masses differ from uniform by " + spread);
    }
}
