package dev.starattn.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Byte-level BPE (GPT-2 family, Llama 3): the text is split by a pre-tokenizer regex, each
 * piece's UTF-8 bytes are mapped to printable characters (GPT-2's byte-to-unicode table), and
 * merges are applied by rank inside each piece (lowest rank first, leftmost first among ties).
 * With {@code ignoreMerges} (Llama 3) a piece that is itself a vocabulary token maps straight to
 * it. Results are cached per piece.
 */
public final class BpeTokenizer extends AbstractTokenizer {
    /** Llama 3 pre-tokenizer (GGUF {@code tokenizer.ggml.pre = llama-bpe}). */
    public static final String LLAMA3_REGEX =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                    + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** GPT-2 pre-tokenizer (the default). */
    public static final String GPT2_REGEX =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];
    private static final int CACHE_LIMIT = 200_000;

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    /** GPT-2's printable stand-in character for a byte. */
    public static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    private final Pattern pretokenizer;
    private final boolean ignoreMerges;
    private final PairTable pairs;
    private final int[] charSymbol = new int[512];
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param merges       pairs of token texts (byte-level alphabet), in rank order
     * @param regex        pre-tokenizer regex in the usual (Python/Rust/JS) dialect; {@code \s} and
     *                     {@code \S} mean Unicode White_Space as in the original tokenizers
     */
    public BpeTokenizer(String[] tokens, int[] types, List<String[]> merges, String regex, boolean ignoreMerges,
                        int bos, int eos, int unk, boolean addBos, Collection<Integer> extraEog) {
        super(tokens, types, bos, eos, unk, addBos, extraEog);
        this.pretokenizer = compileRegex(regex);
        this.ignoreMerges = ignoreMerges;
        java.util.Arrays.fill(charSymbol, -1);
        for (int b = 0; b < 256; b++) {
            Integer id = textToId.get(String.valueOf(BYTE_TO_CHAR[b]));
            if (id != null) charSymbol[BYTE_TO_CHAR[b]] = id;
        }
        this.pairs = new PairTable(merges.size());
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            Integer a = textToId.get(m[0]);
            Integer b = textToId.get(m[1]);
            Integer merged = textToId.get(m[0] + m[1]);
            if (a != null && b != null && merged != null) pairs.put(a, b, merged, r);
        }
    }

    /**
     * Compiles a pre-tokenizer regex for java.util.regex with the original semantics:
     * {@code \s}/{@code \S} become Unicode White_Space (Java's default is ASCII only), while
     * {@code \p{L}}/{@code \p{N}} already are Unicode and {@code (?i:...)} stays ASCII-only as in
     * llama.cpp (the contraction letters are ASCII).
     */
    static Pattern compileRegex(String regex) {
        StringBuilder sb = new StringBuilder(regex.length() + 32);
        for (int i = 0; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == '\\' && i + 1 < regex.length()) {
                char d = regex.charAt(i + 1);
                if (d == 's') sb.append("\\p{IsWhite_Space}");
                else if (d == 'S') sb.append("\\P{IsWhite_Space}");
                else sb.append(c).append(d);
                i++;
            } else {
                sb.append(c);
            }
        }
        return Pattern.compile(sb.toString());
    }

    @Override
    void encodeFragment(String text, boolean atStartOrAfterSpecial, IntList out) {
        Matcher m = pretokenizer.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) encodePiece(text.substring(last, m.start()), out);
            if (m.end() > m.start()) encodePiece(text.substring(m.start(), m.end()), out);
            last = m.end();
        }
        if (last < text.length()) encodePiece(text.substring(last), out);
    }

    private void encodePiece(String piece, IntList out) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        char[] mapped = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) mapped[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        String key = new String(mapped);
        if (ignoreMerges) {
            Integer id = textToId.get(key);
            if (id != null) {
                out.add(id);
                return;
            }
        }
        int[] cached = cache.get(key);
        if (cached == null) {
            int[] ids = new int[mapped.length];
            for (int i = 0; i < mapped.length; i++) ids[i] = charSymbol[mapped[i]];
            int[] merged = pairs.merge(ids, ids.length, null);
            IntList r = new IntList(merged.length);
            for (int id : merged) {
                if (id >= 0) r.add(id);
                else if (unk >= 0) r.add(unk);
            }
            cached = r.toArray();
            if (cache.size() > CACHE_LIMIT) cache.clear();
            cache.put(key, cached);
        }
        out.addAll(cached);
    }

    @Override
    byte[] computeTokenBytes(int id) {
        String t = tokens[id];
        if (t == null) return new byte[0];
        switch (types[id]) {
            case TokenType.CONTROL, TokenType.UNUSED -> {
                return new byte[0];
            }
            case TokenType.USER_DEFINED -> {
                return Utf8.encode(t); // added tokens are stored as plain text
            }
            default -> {
                java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream(t.length());
                for (int i = 0; i < t.length(); i++) {
                    char c = t.charAt(i);
                    int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
                    if (b >= 0) {
                        o.write(b);
                    } else {
                        int cp = t.codePointAt(i);
                        o.writeBytes(Utf8.encodeCodePoint(cp));
                        i += Character.charCount(cp) - 1;
                    }
                }
                return o.toByteArray();
            }
        }
    }
}
