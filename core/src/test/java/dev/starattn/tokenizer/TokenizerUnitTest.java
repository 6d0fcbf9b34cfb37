package dev.starattn.tokenizer;

import dev.starattn.format.ModelFormatException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerUnitTest {

    /** Tiny SentencePiece vocabulary: unk, s, /s, 256 byte tokens, then a few pieces. */
    static Map<String, Object> spmMetadata(boolean spacePrefix) {
        List<String> toks = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) toks.add(String.format("<0x%02X>", b));
        String[] pieces = {"\u2581", "a", "b", "ab", "\u2581a", "\u2581ab", "aa", "<|sp|>"};
        float[] pieceScores = {-10, -10, -10, -1, -2, -0.5f, -3, 0};
        toks.addAll(List.of(pieces));
        int n = toks.size();
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            types[i] = i == 0 ? TokenType.UNKNOWN : i <= 2 ? TokenType.CONTROL : i <= 258 ? TokenType.BYTE : TokenType.NORMAL;
            if (i > 258) scores[i] = pieceScores[i - 259];
        }
        types[n - 1] = TokenType.USER_DEFINED;
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", toks.toArray(String[]::new));
        md.put("tokenizer.ggml.scores", scores);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.bos_token_id", 1);
        md.put("tokenizer.ggml.eos_token_id", 2L);
        md.put("tokenizer.ggml.add_space_prefix", spacePrefix);
        return md;
    }

    static int id(Tokenizer t, String text) {
        return ((AbstractTokenizer) t).tokenId(text);
    }

    @Test
    void spmMergesByScoreAndFallsBackToBytes() {
        Tokenizer t = Tokenizers.fromGgufMetadata(spmMetadata(true));
        // "▁ab": pairs ▁a (-2) and ab (-1): ab merges first, then ▁+ab -> ▁ab.
        assertArrayEquals(new int[] {id(t, "\u2581ab")}, t.encode("ab"));
        // Emoji not in the vocabulary: one token per UTF-8 byte.
        int[] ids = t.encode("a😀");
        byte[] emoji = "😀".getBytes(StandardCharsets.UTF_8);
        assertArrayEquals(new int[] {id(t, "\u2581a"), 3 + (emoji[0] & 0xFF), 3 + (emoji[1] & 0xFF),
                3 + (emoji[2] & 0xFF), 3 + (emoji[3] & 0xFF)}, ids);
        assertEquals("a😀", t.decode(ids));
        assertArrayEquals(new byte[] {emoji[0]}, t.tokenBytes(ids[1]));
        // Incomplete UTF-8 at the end is dropped, never emitted broken.
        assertEquals("a", t.decode(java.util.Arrays.copyOf(ids, 3)));
        // Leading space stripped at position 0 and after BOS, but not mid-sequence.
        assertEquals("ab", t.decode(new int[] {1, id(t, "\u2581ab")}));
        assertEquals("ab ab", t.decode(new int[] {id(t, "\u2581ab"), id(t, "\u2581ab")}));
        assertTrue(t.addBos());
        assertTrue(t.isEndOfGeneration(2));
        assertFalse(t.isEndOfGeneration(1));
    }

    @Test
    void spmTiesMergeLeftmostFirst() {
        Tokenizer t = Tokenizers.fromGgufMetadata(spmMetadata(false));
        assertArrayEquals(new int[] {id(t, "aa"), id(t, "a")}, t.encode("aaa"));
        assertArrayEquals(new int[] {id(t, "aa"), id(t, "aa")}, t.encode("aaaa"));
    }

    @Test
    void emptyString() {
        Tokenizer t = Tokenizers.fromGgufMetadata(spmMetadata(true));
        assertEquals(0, t.encode("").length);
        assertEquals(0, t.encodeWithSpecialTokens("").length);
        assertEquals("", t.decode(new int[0]));
        Tokenizer b = bpe();
        assertEquals(0, b.encode("").length);
        assertEquals("", b.decode(new int[0]));
    }

    @Test
    void spmSpecialTokensOnlyWithEncodeWithSpecialTokens() {
        Tokenizer t = Tokenizers.fromGgufMetadata(spmMetadata(true));
        int ab = id(t, "\u2581ab");
        // Text after a special token gets the space prefix again (llama.cpp's is_prev_special).
        assertArrayEquals(new int[] {1, ab, 2}, t.encodeWithSpecialTokens("<s>ab</s>"));
        int[] plain = t.encode("<s>");
        for (int x : plain) assertTrue(x != 1, "encode must not recognize <s>");
        assertEquals("<s>", t.decode(plain));
        // User-defined tokens are recognized and decode to their text; control tokens to nothing.
        int sp = id(t, "<|sp|>");
        assertArrayEquals(new int[] {ab, sp}, t.encodeWithSpecialTokens("ab<|sp|>"));
        assertEquals("ab<|sp|>", t.decode(new int[] {1, ab, sp, 2}));
    }

    /** Byte-level vocabulary: 256 byte chars, a few merges, special tokens. */
    static Tokenizer bpe() {
        List<String> toks = new ArrayList<>();
        for (int b = 0; b < 256; b++) toks.add(String.valueOf(BpeTokenizer.byteToChar(b)));
        String sp = String.valueOf(BpeTokenizer.byteToChar(' '));
        String[] merges = {"h e", "l l", "he ll", "hell o", sp + " w", sp + "w o"};
        for (String m : merges) toks.add(m.replace(" ", ""));
        toks.addAll(List.of("<|begin_of_text|>", "<|eot_id|>", "<|x|>", "<|x|><|y|>"));
        int n = toks.size();
        int[] types = new int[n];
        java.util.Arrays.fill(types, TokenType.NORMAL);
        for (int i = n - 4; i < n; i++) types[i] = TokenType.CONTROL;
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "gpt2");
        md.put("tokenizer.ggml.pre", "llama-bpe");
        md.put("tokenizer.ggml.tokens", toks.toArray(String[]::new));
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.merges", merges);
        md.put("tokenizer.ggml.bos_token_id", (long) (n - 4));
        md.put("tokenizer.ggml.eos_token_id", n - 4 + 1);
        return Tokenizers.fromGgufMetadata(md);
    }

    @Test
    void byteLevelBpeAndSpecialTokens() {
        Tokenizer t = bpe();
        int hello = id(t, "hello");
        int[] ids = t.encode("hello world");
        assertEquals(hello, ids[0]);
        assertEquals(id(t, BpeTokenizer.byteToChar(' ') + "wo"), ids[1]);
        assertEquals("hello world", t.decode(ids));
        int bos = t.bosId();
        int eot = t.eosId();
        int xy = id(t, "<|x|><|y|>");
        // Longest special token wins; plain encode never recognizes them.
        assertArrayEquals(new int[] {bos, hello, xy, eot}, t.encodeWithSpecialTokens("<|begin_of_text|>hello<|x|><|y|><|eot_id|>"));
        for (int x : t.encode("<|eot_id|>")) assertTrue(x < 256);
        assertEquals("hello", t.decode(new int[] {bos, hello, eot}));
        assertTrue(t.isEndOfGeneration(eot));
        assertEquals(0, t.tokenBytes(eot).length);
        // Emoji bytes via the byte alphabet.
        assertEquals("😀 ok", t.decode(t.encode("😀 ok")));
    }

    @Test
    void streamingDecoderHoldsBackSplitEmoji() {
        Tokenizer t = Tokenizers.fromGgufMetadata(spmMetadata(true));
        int[] ids = t.encode("a😀b");
        TokenStreamDecoder d = new TokenStreamDecoder(t, true);
        StringBuilder out = new StringBuilder();
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            String s = d.feed(id);
            pieces.add(s);
            out.append(s);
        }
        // "▁a", then 4 byte tokens: nothing until the last byte arrives.
        assertEquals(List.of("a", "", "", "", "😀", "b"), pieces);
        assertEquals("a😀b", out.toString());
        assertEquals(0, d.pendingBytes());
        // A dangling partial sequence is never emitted.
        TokenStreamDecoder d2 = new TokenStreamDecoder(t);
        assertEquals("", d2.feed(ids[1]));
        assertEquals(1, d2.pendingBytes());
        assertEquals("", d2.finish());
        // Control tokens produce nothing; without stripping the leading space is kept.
        TokenStreamDecoder d3 = new TokenStreamDecoder(t);
        assertEquals("", d3.feed(1));
        assertEquals(" a", d3.feed(id(t, "\u2581a")));
    }

    @Test
    void chatTemplate() {
        String s = ChatTemplate.llama3(List.of(ChatTemplate.Message.system("Be brief."), ChatTemplate.Message.user("Hi?")));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", s);
        ChatTemplate.Split sp = ChatTemplate.llama3ContextQuery("Be brief.", "DOC", "\n\n", "Q?");
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nDOC\n\n", sp.context());
        assertEquals("Q?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", sp.query());
        assertEquals(ChatTemplate.llama3(List.of(ChatTemplate.Message.system("Be brief."),
                ChatTemplate.Message.user("DOC\n\nQ?"))), sp.whole());
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.split("no slot", ChatTemplate.QUERY_SLOT));
    }

    @Test
    void badMetadataIsReported() {
        Map<String, Object> md = spmMetadata(true);
        md.put("tokenizer.ggml.model", "bert");
        assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(md));
        Map<String, Object> md2 = spmMetadata(true);
        md2.put("tokenizer.ggml.bos_token_id", 1_000_000);
        assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(md2));
        assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(new HashMap<>()));
    }
}
