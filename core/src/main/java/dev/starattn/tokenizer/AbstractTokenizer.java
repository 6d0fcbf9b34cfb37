package dev.starattn.tokenizer;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Vocabulary bookkeeping shared by the SentencePiece-style and byte-level tokenizers: token
 * texts and types, special-token splitting, decoding and end-of-generation ids.
 */
abstract sealed class AbstractTokenizer implements Tokenizer permits SpmTokenizer, BpeTokenizer {
    /** Token names that end generation when present in a vocabulary. */
    static final List<String> EOG_NAMES = List.of(
            "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "</s>", "<|end|>", "<end_of_turn>");

    final String[] tokens;
    final int[] types;
    final Map<String, Integer> textToId;
    final int bos;
    final int eos;
    final int unk;
    final boolean addBos;
    final BitSet eog = new BitSet();
    /** Special tokens (control and user-defined) grouped by first char, longest first. */
    private final Map<Character, String[]> specialsByFirstChar = new HashMap<>();
    private final byte[][] bytesCache;

    AbstractTokenizer(String[] tokens, int[] types, int bos, int eos, int unk, boolean addBos,
                      Collection<Integer> extraEog) {
        this.tokens = tokens;
        this.types = types;
        this.bos = bos;
        this.eos = eos;
        this.unk = unk;
        this.addBos = addBos;
        this.textToId = new HashMap<>(tokens.length * 2);
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] != null) {
                textToId.putIfAbsent(tokens[i], i);
            }
        }
        Map<Character, List<String>> groups = new HashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            if ((types[i] == TokenType.CONTROL || types[i] == TokenType.USER_DEFINED)
                    && tokens[i] != null && !tokens[i].isEmpty()) {
                groups.computeIfAbsent(tokens[i].charAt(0), c -> new ArrayList<>()).add(tokens[i]);
            }
        }
        groups.forEach((c, l) -> {
            String[] a = l.toArray(String[]::new);
            Arrays.sort(a, (x, y) -> Integer.compare(y.length(), x.length()));
            specialsByFirstChar.put(c, a);
        });
        if (eos >= 0 && eos < tokens.length) eog.set(eos);
        for (Integer id : extraEog) {
            if (id != null && id >= 0 && id < tokens.length) eog.set(id);
        }
        for (String name : EOG_NAMES) {
            Integer id = textToId.get(name);
            if (id != null && types[id] != TokenType.NORMAL) eog.set(id);
        }
        this.bytesCache = new byte[tokens.length][];
    }

    /** Encodes one stretch of plain text; {@code atStartOrAfterSpecial} drives the SPM space prefix. */
    abstract void encodeFragment(String text, boolean atStartOrAfterSpecial, IntList out);

    /** Raw bytes of a token, uncached. */
    abstract byte[] computeTokenBytes(int id);

    /** Whether {@link #decode} strips one leading space of the first token (SPM add_space_prefix). */
    boolean stripsLeadingSpace() {
        return false;
    }

    @Override
    public int[] encode(String text) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        if (!text.isEmpty()) {
            encodeFragment(text, true, out);
        }
        return out.toArray();
    }

    @Override
    public int[] encodeWithSpecialTokens(String text) {
        return encodeWithSpecialTokens(text, true);
    }

    @Override
    public int[] encodeContinuation(String text) {
        return encodeWithSpecialTokens(text, false);
    }

    private int[] encodeWithSpecialTokens(String text, boolean atStart) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        boolean prevSpecial = atStart;
        int start = 0;
        int i = 0;
        int n = text.length();
        while (i < n) {
            String[] cands = specialsByFirstChar.get(text.charAt(i));
            String hit = null;
            if (cands != null) {
                for (String s : cands) {
                    if (text.startsWith(s, i)) {
                        hit = s;
                        break;
                    }
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            if (i > start) {
                encodeFragment(text.substring(start, i), prevSpecial, out);
            }
            out.add(textToId.get(hit));
            prevSpecial = true;
            i += hit.length();
            start = i;
        }
        if (start < n) {
            encodeFragment(text.substring(start), prevSpecial, out);
        }
        return out.toArray();
    }

    /**
     * Decodes ids to text. Control tokens (BOS, EOS, chat headers) decode to nothing. For a
     * SentencePiece vocabulary with {@code add_space_prefix} the sequence is taken to start the
     * text (position 0, or right after BOS): the one space the encoder prepended is removed from
     * the first token after an optional leading BOS, as llama.cpp does. An incomplete UTF-8
     * sequence at the end is dropped; invalid bytes elsewhere become U+FFFD.
     */
    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(ids.length * 4);
        int first = (ids.length > 0 && ids[0] == bos && bos >= 0) ? 1 : 0;
        for (int k = 0; k < ids.length; k++) {
            byte[] b = tokenBytes(ids[k]);
            if (k == first && stripsLeadingSpace() && b.length > 0 && b[0] == ' ') {
                buf.write(b, 1, b.length - 1);
            } else {
                buf.writeBytes(b);
            }
        }
        byte[] all = buf.toByteArray();
        return Utf8.decodeDroppingIncompleteTail(all, all.length);
    }

    @Override
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + tokens.length);
        }
        byte[] b = bytesCache[id];
        if (b == null) {
            b = computeTokenBytes(id);
            bytesCache[id] = b;
        }
        return b.clone();
    }

    @Override
    public int vocabSize() {
        return tokens.length;
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        return id >= 0 && eog.get(id);
    }

    @Override
    public boolean addBos() {
        return addBos;
    }

    @Override
    public String tokenText(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + tokens.length);
        }
        return tokens[id];
    }

    /** Token type of an id ({@link TokenType}). */
    public int tokenType(int id) {
        return types[id];
    }

    /** Id of a token by its exact vocabulary text, or -1. */
    public int tokenId(String text) {
        Integer id = textToId.get(text);
        return id == null ? -1 : id;
    }

    /** Growable int array. */
    static final class IntList {
        int[] a;
        int n;

        IntList(int cap) {
            a = new int[Math.max(4, cap)];
        }

        void add(int x) {
            if (n == a.length) a = Arrays.copyOf(a, n * 2);
            a[n++] = x;
        }

        void addAll(int[] xs) {
            if (n + xs.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, n + xs.length));
            System.arraycopy(xs, 0, a, n, xs.length);
            n += xs.length;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
