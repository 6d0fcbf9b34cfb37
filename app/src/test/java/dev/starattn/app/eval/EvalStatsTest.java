package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Wilson intervals and McNemar's exact test against values computed by hand (and by statsmodels / R). */
class EvalStatsTest {
    private static void interval(double lo, double hi, EvalStats.Interval got) {
        assertEquals(lo, got.lo(), 5e-5, "lower bound of " + got);
        assertEquals(hi, got.hi(), 5e-5, "upper bound of " + got);
    }

    @Test
    void wilsonKnownValues() {
        // statsmodels proportion_confint(k, n, method="wilson")
        interval(0.0, 0.27753, EvalStats.wilson(0, 10));
        interval(0.72247, 1.0, EvalStats.wilson(1, 10));
        interval(0.23659, 0.76341, EvalStats.wilson(0.5, 10));
        interval(0.92957, 0.96753, EvalStats.wilson(0.952, 500));  // EVAL.md's 95.2 [93.0, 96.8]
        interval(0.03958, 0.23052, EvalStats.wilson(0.1, 40));
        interval(0, 1, EvalStats.wilson(0, 0));
    }

    @Test
    void mcnemarExactKnownValues() {
        assertEquals(1.0, EvalStats.mcnemarExact(0, 0), 0);
        assertEquals(1.0, EvalStats.mcnemarExact(3, 3), 1e-12);       // capped at 1
        assertEquals(0.5, EvalStats.mcnemarExact(0, 2), 1e-12);       // 2 * 1/4
        assertEquals(14 / 64.0, EvalStats.mcnemarExact(1, 5), 1e-12); // 2 * (1 + 6) / 2^6
        assertEquals(14 / 64.0, EvalStats.mcnemarExact(5, 1), 1e-12); // symmetric
        assertEquals(2 / 1024.0, EvalStats.mcnemarExact(0, 10), 1e-12);
        assertEquals(1152 / 32768.0, EvalStats.mcnemarExact(3, 12), 1e-12); // statsmodels mcnemar(exact=True): 0.0352
        // binom.test(40, 100): 0.05689
        assertEquals(0.056888, EvalStats.mcnemarExact(40, 60), 1e-6);
        // thousands of pairs neither underflow nor exceed 1
        assertEquals(0.122065, EvalStats.mcnemarExact(2000, 2100), 1e-5);
        assertTrue(EvalStats.mcnemarExact(0, 5000) >= 0);
        assertThrows(IllegalArgumentException.class, () -> EvalStats.mcnemarExact(-1, 2));
    }
}
