package dev.starattn.app.serve;

import dev.starattn.tokenizer.Tokenizer;

/**
 * Refuses a text that cannot fit in --max-context from its byte count alone, before tokenizing it
 * (which, for a large text, takes long and much memory).
 */
final class TokenBounds {
    /** The most text bytes one token stands for in this vocabulary (see {@link #maxTokenBytes(Tokenizer)}). */
    private final int maxTokenBytes;
    private final int maxContext;

    TokenBounds(Tokenizer tokenizer, int maxContext) {
        this.maxTokenBytes = maxTokenBytes(tokenizer);
        this.maxContext = maxContext;
    }

    /** UTF-8 bytes of {@code s}, without encoding it. */
    static long utf8Length(CharSequence s) {
        long n = 0;
        for (int i = 0, len = s.length(); i < len; i++) {
            char c = s.charAt(i);
            if (c < 0x80) n++;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c) && i + 1 < len && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else n += 3;
        }
        return n;
    }

    /**
     * The most text bytes one token of this vocabulary can stand for: its decoded bytes or its
     * vocabulary text (a special token written out in the text), and 4 (one unknown code point as
     * an unknown token). Tokenizing never drops text, so {@code n} bytes of text become at least
     * {@code ceil(n / maxTokenBytes)} tokens: more bytes than {@code maxContext * maxTokenBytes} can
     * be refused before tokenizing.
     */
    static int maxTokenBytes(Tokenizer t) {
        int m = 4;
        for (int id = 0; id < t.vocabSize(); id++) {
            try {
                m = Math.max(m, t.tokenBytes(id).length);
            } catch (RuntimeException ignored) {
                // a token without bytes (control token): its text below still counts
            }
            String text = t.tokenText(id);
            if (text != null) m = (int) Math.max(m, utf8Length(text));
        }
        return m;
    }

    /** Fewest tokens {@code bytes} bytes of text can become. */
    private long minTokens(long bytes) {
        return (bytes + maxTokenBytes - 1) / maxTokenBytes;
    }

    /** Refuses, before tokenizing, a text of {@code bytes} bytes that cannot fit with {@code otherTokens} more. */
    void refuseCertainOverflow(long bytes, long otherTokens, String what) {
        long least = minTokens(bytes);
        if (least + otherTokens > maxContext) {
            throw ApiError.badRequest("context_length_exceeded", what + " has " + bytes + " bytes of text, at least " + least
                    + " tokens with this model's vocabulary (a token stands for at most " + maxTokenBytes + " bytes), but this server takes at most "
                    + maxContext + " tokens per request, question and answer included (--max-context)");
        }
    }
}
