package dev.starattn.tokenizer;

import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece-style BPE as llama.cpp's {@code llm_tokenizer_spm} runs it: optional space
 * prefix, spaces escaped to U+2581, one initial symbol per code point, then repeated merging of
 * the adjacent pair whose concatenation is a vocabulary token of the highest priority (leftmost
 * first among ties), then byte fallback to {@code <0xXX>} tokens (else unknown) for symbols not in
 * the vocabulary.
 *
 * <p>Priority comes either from token scores (GGUF {@code tokenizer.ggml.scores}: the merged
 * token's score, higher first) or from merge ranks (Hugging Face {@code tokenizer.json} merges:
 * the pair's position in the list, earlier first). Control, unknown, unused and byte tokens are
 * never produced by merging, so {@link #encode} cannot emit e.g. {@code <s>} for the text "&lt;s&gt;".
 */
public final class SpmTokenizer extends AbstractTokenizer {
    static final char SPACE_MARK = '\u2581';

    private final boolean addSpacePrefix;
    private final PairTable pairs;
    private final int[] bmpSymbol = new int[65536];
    private final Map<Integer, Integer> astralSymbol = new HashMap<>();
    private int nextPseudo;
    private final int[] byteTokens = new int[256];

    private SpmTokenizer(String[] tokens, int[] types, int bos, int eos, int unk, boolean addBos,
                         boolean addSpacePrefix, Collection<Integer> extraEog, int expectedPairs) {
        super(tokens, types, bos, eos, unk, addBos, extraEog);
        this.addSpacePrefix = addSpacePrefix;
        this.pairs = new PairTable(Math.max(16, expectedPairs));
        this.nextPseudo = tokens.length;
        Arrays.fill(bmpSymbol, -1);
        Arrays.fill(byteTokens, -1);
        for (int i = 0; i < tokens.length; i++) {
            String t = tokens[i];
            if (t == null || t.isEmpty()) continue;
            int cp = t.codePointAt(0);
            if (Character.charCount(cp) == t.length()) {
                if (cp < 65536) {
                    if (bmpSymbol[cp] < 0) bmpSymbol[cp] = i;
                } else {
                    astralSymbol.putIfAbsent(cp, i);
                }
            }
            int b = parseByteToken(t);
            if (b >= 0 && (byteTokens[b] < 0 || types[i] == TokenType.BYTE)) {
                byteTokens[b] = i;
            }
        }
    }

    /** From GGUF-style scores: the pair whose merged token has the higher score merges first. */
    public static SpmTokenizer withScores(String[] tokens, float[] scores, int[] types, int bos, int eos, int unk,
                                          boolean addBos, boolean addSpacePrefix, Collection<Integer> extraEog) {
        SpmTokenizer t = new SpmTokenizer(tokens, types, bos, eos, unk, addBos, addSpacePrefix, extraEog,
                tokens.length * 4);
        // Dense rank of the score, highest first: equal scores share a rank so the leftmost pair wins.
        Integer[] order = new Integer[tokens.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Float.compare(scoreOf(scores, b), scoreOf(scores, a)));
        int[] rank = new int[tokens.length];
        int r = -1;
        float prev = Float.NaN;
        for (Integer id : order) {
            float s = scoreOf(scores, id);
            if (r < 0 || Float.compare(s, prev) != 0) {
                r++;
                prev = s;
            }
            rank[id] = r;
        }
        for (int id = 0; id < tokens.length; id++) {
            String s = tokens[id];
            if (s == null || !mergeable(types[id]) || s.codePointCount(0, s.length()) < 2) continue;
            if (!Integer.valueOf(id).equals(t.textToId.get(s))) continue; // duplicate text: first id wins
            for (int k = s.offsetByCodePoints(0, 1); k < s.length(); k = s.offsetByCodePoints(k, 1)) {
                int left = t.symbolForPart(s.substring(0, k));
                int right = t.symbolForPart(s.substring(k));
                if (left >= 0 && right >= 0) {
                    t.pairs.put(left, right, id, rank[id]);
                }
            }
        }
        return t;
    }

    /** From Hugging Face merges (pairs of token texts): earlier merges first. */
    public static SpmTokenizer withMerges(String[] tokens, List<String[]> merges, int[] types, int bos, int eos,
                                          int unk, boolean addBos, boolean addSpacePrefix,
                                          Collection<Integer> extraEog) {
        SpmTokenizer t = new SpmTokenizer(tokens, types, bos, eos, unk, addBos, addSpacePrefix, extraEog,
                merges.size());
        for (int r = 0; r < merges.size(); r++) {
            String[] m = merges.get(r);
            Integer merged = t.textToId.get(m[0] + m[1]);
            if (merged == null || !mergeable(types[merged])) continue;
            int left = t.symbolForPart(m[0]);
            int right = t.symbolForPart(m[1]);
            if (left >= 0 && right >= 0) t.pairs.put(left, right, merged, r);
        }
        return t;
    }

    private static float scoreOf(float[] scores, int id) {
        return scores != null && id < scores.length ? scores[id] : 0f;
    }

    static boolean mergeable(int type) {
        return type == TokenType.NORMAL || type == TokenType.USER_DEFINED || type == TokenType.UNDEFINED;
    }

    /** Symbol id of a merge operand: a mergeable token, or a single code point (pseudo id if not a token). */
    private int symbolForPart(String part) {
        int cp = part.codePointAt(0);
        if (Character.charCount(cp) == part.length()) {
            int id = symbolOf(cp);
            if (id >= 0) return id;
            int pseudo = nextPseudo++;
            if (cp < 65536) bmpSymbol[cp] = pseudo;
            else astralSymbol.put(cp, pseudo);
            return pseudo;
        }
        Integer id = textToId.get(part);
        return id != null && mergeable(types[id]) ? id : -1;
    }

    private int symbolOf(int cp) {
        if (cp < 65536) return bmpSymbol[cp];
        Integer id = astralSymbol.get(cp);
        return id == null ? -1 : id;
    }

    static int parseByteToken(String t) {
        if (t.length() == 6 && t.startsWith("<0x") && t.charAt(5) == '>') {
            int hi = Character.digit(t.charAt(3), 16);
            int lo = Character.digit(t.charAt(4), 16);
            if (hi >= 0 && lo >= 0) return hi * 16 + lo;
        }
        return -1;
    }

    public boolean addSpacePrefix() {
        return addSpacePrefix;
    }

    @Override
    boolean stripsLeadingSpace() {
        return addSpacePrefix;
    }

    @Override
    void encodeFragment(String text, boolean atStartOrAfterSpecial, IntList out) {
        String s = (addSpacePrefix && atStartOrAfterSpecial ? " " + text : text).replace(' ', SPACE_MARK);
        int n = s.codePointCount(0, s.length());
        int[] ids = new int[n];
        int[] cps = new int[n];
        for (int i = 0, k = 0; i < s.length(); k++) {
            int cp = s.codePointAt(i);
            cps[k] = cp;
            ids[k] = symbolOf(cp);
            i += Character.charCount(cp);
        }
        int[] origin = new int[n];
        int[] merged = pairs.merge(ids, n, origin);
        for (int k = 0; k < merged.length; k++) {
            int id = merged[k];
            if (id >= 0 && id < tokens.length) {
                out.add(id);
            } else {
                for (byte b : Utf8.encodeCodePoint(cps[origin[k]])) {
                    int bt = byteTokens[b & 0xFF];
                    if (bt >= 0) out.add(bt);
                    else if (unk >= 0) out.add(unk);
                }
            }
        }
    }

    @Override
    byte[] computeTokenBytes(int id) {
        String t = tokens[id];
        switch (types[id]) {
            case TokenType.BYTE -> {
                int b = parseByteToken(t);
                return b >= 0 ? new byte[] {(byte) b} : Utf8.encode(t);
            }
            case TokenType.CONTROL, TokenType.UNUSED -> {
                return new byte[0];
            }
            case TokenType.UNKNOWN -> {
                return Utf8.encode("\u2585"); // what llama.cpp prints for the unknown token
            }
            default -> {
                return Utf8.encode(t == null ? "" : t.replace(SPACE_MARK, ' '));
            }
        }
    }
}
