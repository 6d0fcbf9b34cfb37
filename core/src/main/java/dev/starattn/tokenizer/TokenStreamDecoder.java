package dev.starattn.tokenizer;

import java.util.Arrays;

/**
 * Incremental detokenizer for streaming output: feed generated ids one at a time and get back
 * only complete UTF-8 text. An incomplete multi-byte sequence (e.g. an emoji split over several
 * byte tokens) is held back until its last byte arrives, so broken characters are never emitted.
 * Control tokens produce nothing. Not thread-safe.
 */
public final class TokenStreamDecoder {
    private final Tokenizer tokenizer;
    private boolean stripLeadingSpace;
    private byte[] pending = new byte[16];
    private int pendingLen;

    /** A decoder for tokens that continue a prompt (no leading-space stripping). */
    public TokenStreamDecoder(Tokenizer tokenizer) {
        this(tokenizer, false);
    }

    /**
     * @param stripLeadingSpace remove one leading space from the first token's text, as
     *                          {@link Tokenizer#decode} does for a SentencePiece sequence that starts
     *                          the text (use when streaming from position 0)
     */
    public TokenStreamDecoder(Tokenizer tokenizer, boolean stripLeadingSpace) {
        this.tokenizer = tokenizer;
        this.stripLeadingSpace = stripLeadingSpace;
    }

    /** Adds one token; returns the text that became complete (possibly empty). */
    public String feed(int id) {
        if (stripLeadingSpace && id == tokenizer.bosId()) {
            return "";
        }
        byte[] b = tokenizer.tokenBytes(id);
        int from = 0;
        if (stripLeadingSpace) {
            stripLeadingSpace = false;
            if (b.length > 0 && b[0] == ' ') from = 1;
        }
        int add = b.length - from;
        if (pendingLen + add > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLen + add));
        }
        System.arraycopy(b, from, pending, pendingLen, add);
        pendingLen += add;
        int complete = Utf8.completePrefixLength(pending, pendingLen);
        if (complete == 0) {
            return "";
        }
        String s = new String(pending, 0, complete, java.nio.charset.StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, pendingLen - complete);
        pendingLen -= complete;
        return s;
    }

    /** Number of bytes held back waiting for the rest of a UTF-8 sequence. */
    public int pendingBytes() {
        return pendingLen;
    }

    /** Ends the stream: drops any incomplete sequence held back and returns "" (never broken text). */
    public String finish() {
        pendingLen = 0;
        return "";
    }
}
