package dev.starattn.tokenizer;

import java.nio.charset.StandardCharsets;

/** UTF-8 helpers shared by the tokenizers and {@link TokenStreamDecoder}. */
final class Utf8 {
    private Utf8() {}

    /**
     * Length of the longest prefix of {@code b[0..len)} that does not end inside an incomplete
     * (but still possibly valid) multi-byte sequence. Invalid bytes count as complete: they can
     * never become valid and are decoded as U+FFFD.
     */
    static int completePrefixLength(byte[] b, int len) {
        int lowest = Math.max(0, len - 3);
        for (int i = len - 1; i >= lowest; i--) {
            int x = b[i] & 0xFF;
            if ((x & 0xC0) == 0x80) {
                continue; // continuation byte: look further back for its lead byte
            }
            int need = sequenceLength(x);
            if (need > 1 && len - i < need) {
                return i;
            }
            return len;
        }
        return len;
    }

    /** Expected sequence length for a lead byte; 1 for ASCII and for bytes that cannot lead. */
    static int sequenceLength(int lead) {
        if (lead >= 0xC2 && lead <= 0xDF) return 2;
        if (lead >= 0xE0 && lead <= 0xEF) return 3;
        if (lead >= 0xF0 && lead <= 0xF4) return 4;
        return 1;
    }

    /** Decodes the complete prefix of the bytes; an incomplete sequence at the end is dropped. */
    static String decodeDroppingIncompleteTail(byte[] b, int len) {
        int n = completePrefixLength(b, len);
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    static byte[] encode(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] encodeCodePoint(int cp) {
        return new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8);
    }
}
