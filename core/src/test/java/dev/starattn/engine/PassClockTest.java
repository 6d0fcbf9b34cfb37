package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Star-pass's per-layer waits: a host ends a layer only after the earlier hosts have begun it. */
class PassClockTest {
    @Test
    void aHostWaitsForTheSlowestEarlierHostToChooseItsRows() {
        PassClock clock = new PassClock(new long[] {0, 0, 0});
        // Layer 0: host 1 chooses its rows slowly (30), host 2 quickly (5): host 2 waits until host 1 is ready.
        clock.began(0, 10);
        clock.began(1, 30);
        clock.began(2, 5);
        assertEquals(0, clock.ending(0), "the first host waits for nobody");
        clock.ended(0, 10);
        assertEquals(0, clock.ending(1), "host 0 was ready at 10, host 1 is at 30");
        clock.ended(1, 10);
        assertEquals(25, clock.ending(2), "host 1 is ready at 30, host 2 at 5");
        clock.ended(2, 10);
        assertEquals(20, clock.clock(0));
        assertEquals(40, clock.clock(1));
        assertEquals(40, clock.clock(2), "its wait is on its clock");
        // Layer 1: everyone even: nobody waits, and layer 0's readiness does not carry over.
        for (int h = 0; h < 3; h++) clock.began(h, 10);
        assertEquals(0, clock.ending(0));
        clock.ended(0, 10);
        assertEquals(0, clock.ending(1), "host 0 was ready at 30, host 1 is at 50");
        clock.ended(1, 10);
        assertEquals(0, clock.ending(2), "host 1 was ready at 50, host 2 is at 50");
        clock.ended(2, 10);
        assertEquals(40, clock.clock(0));
        assertEquals(60, clock.clock(1));
        assertEquals(60, clock.clock(2));
    }

    @Test
    void setUpTimeStartsEachClock() {
        PassClock clock = new PassClock(new long[] {100, 0});
        clock.began(0, 0);
        clock.began(1, 0);
        clock.ending(0);
        clock.ended(0, 0);
        assertEquals(100, clock.ending(1), "host 0's rows are ready only after its set-up");
    }
}
