package dev.starattn.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SwitchesTest {
    @Test
    void unsetGivesTheDefault() {
        assertEquals(16, SwitchValues.integer("starattn.x", null, 16, 1, "a positive integer"));
        assertEquals(0L, SwitchValues.longInteger("starattn.x", null, 0L, 0L, "0 or more"));
        assertTrue(SwitchValues.bool("starattn.x", null, true));
        assertEquals("auto", SwitchValues.text(null, "auto"));
        assertNull(SwitchValues.text(null, null));
    }

    @Test
    void integersDecodeAsIntegerGetIntegerDid() {
        assertEquals(8, SwitchValues.integer("starattn.x", "8", 1, 1, "a positive integer"));
        assertEquals(16, SwitchValues.integer("starattn.x", "0x10", 1, 1, "a positive integer"));
        assertEquals(-3, SwitchValues.integer("starattn.x", " -3 ", 1, Integer.MIN_VALUE, "an integer"));
        assertEquals(5000L, SwitchValues.longInteger("starattn.x", "5000", 0L, 0L, "0 or more microseconds"));
    }

    @Test
    void booleansTakeTrueOrFalseInAnyCase() {
        assertTrue(SwitchValues.bool("starattn.x", "TRUE", false));
        assertFalse(SwitchValues.bool("starattn.x", "false", true));
        assertFalse(SwitchValues.bool("starattn.x", " False ", true));
    }

    @Test
    void anUnparseableValueIsOneSentenceNamingTheSwitch() {
        var e = assertThrows(IllegalArgumentException.class, () -> SwitchValues.integer("starattn.threads", "abc", 4, 1, "a positive integer"));
        assertEquals("starattn.threads takes a positive integer, got 'abc'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SwitchValues.integer("starattn.threads", "0", 4, 1, "a positive integer"));
        assertEquals("starattn.threads takes a positive integer, got '0'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SwitchValues.integer("starattn.threads", "", 4, 1, "a positive integer"));
        assertEquals("starattn.threads takes a positive integer, got ''", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SwitchValues.longInteger("starattn.spinMicros", "-1", 0, 0, "0 or more microseconds"));
        assertEquals("starattn.spinMicros takes 0 or more microseconds, got '-1'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SwitchValues.bool("starattn.cuda.graphs", "yes", true));
        assertEquals("starattn.cuda.graphs takes true or false, got 'yes'", e.getMessage());
    }

    @Test
    void accessorsReadTheSystemPropertyAndCheckReportsABadOne() {
        String old = System.getProperty("starattn.cuda.decodeMinKeys");
        try {
            System.setProperty("starattn.cuda.decodeMinKeys", "512");
            assertEquals(512, Switches.cudaDecodeMinKeys());
            System.setProperty("starattn.cuda.decodeMinKeys", "lots");
            var e = assertThrows(IllegalArgumentException.class, Switches::check);
            assertEquals("starattn.cuda.decodeMinKeys takes an integer, got 'lots'", e.getMessage());
        } finally {
            if (old == null) System.clearProperty("starattn.cuda.decodeMinKeys");
            else System.setProperty("starattn.cuda.decodeMinKeys", old);
        }
        assertEquals(256, Switches.cudaDecodeMinKeys());
    }
}
