package dev.starattn.format;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PrintableTest {
    @Test
    void controlSequencesBecomeVisibleEscapes() {
        String evil = "llama.\u001b]0;pwned\u0007\u001b[2J\u009bname";
        String safe = Printable.escape(evil);
        assertEquals("llama.\\x1b]0;pwned\\x07\\x1b[2J\\x9bname", safe);
        assertFalse(safe.chars().anyMatch(c -> c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)));
    }

    @Test
    void bidiOverridesAndLoneSurrogatesAreEscaped() {
        assertEquals("a\\u202eb\\ud800", Printable.escape("a\u202eb\ud800"));
        assertEquals("ok \uD83D\uDE00", Printable.escape("ok \uD83D\uDE00"));
    }

    @Test
    void longTextIsCutWithItsLength() {
        String s = "x".repeat(1000);
        String e = Printable.escape(s);
        assertTrue(e.startsWith("x".repeat(Printable.MAX_QUOTED) + "... (1000 characters)"));
        assertEquals(s, Printable.sanitizeMessage(s));
    }
}
