package dev.starattn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.starattn.testutil.RepoPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Compares our tokenizers on the real Llama 3 and Llama 2 vocabularies against independent
 * JavaScript implementations (npm llama3-tokenizer-js 1.2.0, llama-tokenizer-js 1.2.2, installed
 * in {@code oracle/} by {@code npm ci}). Skipped only when node or oracle/node_modules is absent.
 */
class OracleTokenizerTest {
    private static final ObjectMapper OM = new ObjectMapper();
    private static Path oracleDir;
    private static Path tmp;
    private static JsonNode llama3Dump;
    private static JsonNode llama2Dump;
    private static Tokenizer llama3Gguf;
    private static Tokenizer llama2Gguf;

    static final List<String> TEXTS = List.of(
            "Hello world",
            "The quick brown fox jumps over the lazy dog. It wasn't me; they'll say we'd've known!",
            "I'M SHOUTING, You're Whispering, we'RE mixing CaSe and it's 'quoted' text.",
            "Café naïve résumé coöperate Ångström façade jalapeño Straße",
            "日本語のテキストと中文文本，还有한국어 텍스트。",
            "Emoji: 😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇮 ❤️ done",
            "עברית מימין לשמאל ועربية: مرحبا بالعالم",
            "   leading spaces and trailing spaces   ",
            "tabs\tbetween\t\twords\t",
            "line one\nline two\n\nline four\r\nwindows line\n\n\n",
            "multiple     spaces    between     words",
            "1 12 123 1234 12345 123456 1234567 3.14159 1,000,000 2024-06-01 0x1F ٣٤٥",
            "def foo(x):\n    if x > 0:\n        return [x, {\"a\": (1, 2)}]\n    return None\n",
            "public static void main(String[] args) { System.out.println(\"hi\"); }",
            "for (int i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}",
            "<html><body class=\"x\">Hello &amp; goodbye</body></html>",
            "Punctuation!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
            "a",
            " ",
            "\n",
            "  \n  \n",
            "x\u00a0y\u2003z\u3000w",
            "Ünïcödé ÀÉÎÕÜ ẞ ǅ ﬁ Ω ℃ ½ ² ⅷ",
            "mathematical: ∀x∈ℝ, x²≥0 ⇒ √(x²)=|x|",
            "https://example.com/path?query=value&other=123#frag",
            "The year 1999 and 2000s; version v1.2.3-beta+build.45",
            "Zero-width\u200bjoiner\u200dand non-breaking\u00a0space",
            "Ελληνικά κείμενα και русский текст и українська мова",
            "ऐसा हिंदी पाठ और தமிழ் உரை",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
            "\t\t\n\t \n",
            "ends with newline\n");

    @BeforeAll
    static void setUp(@TempDir Path dir) throws Exception {
        tmp = dir;
        oracleDir = findOracleDir();
        assumeTrue(oracleDir != null && Files.isDirectory(oracleDir.resolve("node_modules/llama3-tokenizer-js"))
                && Files.isDirectory(oracleDir.resolve("node_modules/llama-tokenizer-js")),
                "oracle/node_modules is not installed (run npm ci in oracle/)");
        assumeTrue(nodeAvailable(), "node is not installed");
        Path l3 = tmp.resolve("llama3.json");
        Path l2 = tmp.resolve("llama2.json");
        runNode("dump", "llama3", l3);
        runNode("dump", "llama2", l2);
        llama3Dump = OM.readTree(l3.toFile());
        llama2Dump = OM.readTree(l2.toFile());
        llama3Gguf = Tokenizers.fromGgufMetadata(llama3Metadata());
        llama2Gguf = Tokenizers.fromGgufMetadata(llama2Metadata());
    }

    private static Path findOracleDir() {
        return RepoPaths.npmProject("oracle");
    }

    private static boolean nodeAvailable() {
        try {
            Process pr = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            pr.getInputStream().readAllBytes();
            return pr.waitFor(20, TimeUnit.SECONDS) && pr.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static String runNode(String cmd, String which, Path file) throws Exception {
        Path out = Files.createTempFile(tmp, "node-out", ".json");
        Process pr = new ProcessBuilder("node", "tokenizer-oracle.mjs", cmd, which, file.toString())
                .directory(oracleDir.toFile())
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        if (!pr.waitFor(60, TimeUnit.SECONDS)) {
            pr.destroyForcibly();
            throw new AssertionError("node tokenizer-oracle.mjs " + cmd + " " + which + " timed out");
        }
        assertEquals(0, pr.exitValue(), "node tokenizer-oracle.mjs " + cmd + " " + which + " failed");
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    private static int[][] oracleEncode(String which, List<String> texts) throws Exception {
        Path in = Files.createTempFile(tmp, "texts", ".json");
        OM.writeValue(in.toFile(), texts);
        JsonNode res = OM.readTree(runNode("encode", which, in));
        int[][] out = new int[res.size()][];
        for (int i = 0; i < res.size(); i++) {
            out[i] = new int[res.get(i).size()];
            for (int j = 0; j < out[i].length; j++) out[i][j] = res.get(i).get(j).asInt();
        }
        return out;
    }

    private static String[] tokens(JsonNode dump) {
        JsonNode t = dump.get("tokens");
        String[] a = new String[t.size()];
        for (int i = 0; i < a.length; i++) a[i] = t.get(i).asText();
        return a;
    }

    /** GGUF-style metadata for Llama 3 (gpt2 model, llama-bpe pre-tokenizer). */
    static Map<String, Object> llama3Metadata() {
        String[] toks = tokens(llama3Dump);
        int[] types = new int[toks.length];
        for (int i = 0; i < types.length; i++) types[i] = i >= 128000 ? TokenType.CONTROL : TokenType.NORMAL;
        JsonNode m = llama3Dump.get("merges");
        String[] merges = new String[m.size()];
        for (int i = 0; i < merges.length; i++) merges[i] = m.get(i).get(0).asText() + " " + m.get(i).get(1).asText();
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "gpt2");
        md.put("tokenizer.ggml.pre", "llama-bpe");
        md.put("tokenizer.ggml.tokens", toks);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.merges", merges);
        md.put("tokenizer.ggml.bos_token_id", 128000);
        md.put("tokenizer.ggml.eos_token_id", 128001L);
        return md;
    }

    /**
     * GGUF-style metadata for Llama 2 (llama model). The JS package carries merges rather than
     * SentencePiece scores; as in the Hugging Face conversion the merge order follows the score
     * order, so score(token) = -(rank of the first merge producing it) reproduces it.
     */
    static Map<String, Object> llama2Metadata() {
        String[] toks = tokens(llama2Dump);
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < toks.length; i++) ids.putIfAbsent(toks[i], i);
        float[] scores = new float[toks.length];
        java.util.Arrays.fill(scores, -1e9f);
        JsonNode m = llama2Dump.get("merges");
        for (int r = m.size() - 1; r >= 0; r--) {
            Integer id = ids.get(m.get(r).get(0).asText() + m.get(r).get(1).asText());
            if (id != null) scores[id] = -r;
        }
        long[] types = new long[toks.length];
        for (int i = 0; i < toks.length; i++) {
            types[i] = i == 0 ? TokenType.UNKNOWN : i <= 2 ? TokenType.CONTROL : i <= 258 ? TokenType.BYTE : TokenType.NORMAL;
            if (toks[i].codePointCount(0, toks[i].length()) == 1 && i > 258) scores[i] = 0f;
        }
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", toks);
        md.put("tokenizer.ggml.scores", scores);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.bos_token_id", 1L);
        md.put("tokenizer.ggml.eos_token_id", 2);
        md.put("tokenizer.ggml.unknown_token_id", 0);
        md.put("tokenizer.ggml.add_bos_token", true);
        return md;
    }

    private static List<String> allTexts() {
        List<String> texts = new ArrayList<>(TEXTS);
        texts.add(randomText(new Random(42), 3000));
        return texts;
    }

    /** A mix of words, numbers, punctuation, unicode and whitespace. */
    static String randomText(Random rnd, int words) {
        String[] pieces = {"the", "The", "token", "izer", "Attention", "star", "42", "1234567", "é", "über", "日本",
                "语", "😀", "👍🏽", "مرحبا", "\n", "\n\n", "\t", "  ", "   ", ",", ".", "!?", "(", ")", "{", "}", "'s",
                "'ll", "don't", "x_y", "foo.bar()", "==", "->", "#", "Ω", "ß", "\u00a0", "naïve", "ABC", "q", "zz"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            sb.append(pieces[rnd.nextInt(pieces.length)]);
            if (rnd.nextInt(3) > 0) sb.append(' ');
        }
        return sb.toString();
    }

    private static void compare(Tokenizer tok, String which) throws Exception {
        List<String> texts = allTexts();
        int[][] expected = oracleEncode(which, texts);
        for (int i = 0; i < texts.size(); i++) {
            String t = texts.get(i);
            int[] ours = tok.encode(t);
            assertArrayEquals(expected[i], ours, which + " encoding differs for text #" + i + ": " + t.substring(0, Math.min(80, t.length())));
            assertEquals(t, tok.decode(ours), which + " decode(encode(x)) != x for text #" + i);
            int[] withBos = new int[ours.length + 1];
            withBos[0] = tok.bosId();
            System.arraycopy(ours, 0, withBos, 1, ours.length);
            assertEquals(t, tok.decode(withBos), which + " decode(BOS + encode(x)) != x for text #" + i);
        }
    }

    @Test
    void llama3GgufMatchesOracle() throws Exception {
        Tokenizer tok = llama3Gguf;
        assertEquals(128256, tok.vocabSize());
        assertTrue(tok.addBos());
        assertTrue(tok.isEndOfGeneration(128001));
        assertTrue(tok.isEndOfGeneration(tok.encodeWithSpecialTokens("<|eot_id|>")[0]));
        assertTrue(tok.isEndOfGeneration(tok.encodeWithSpecialTokens("<|eom_id|>")[0]));
        compare(tok, "llama3");
        // Special tokens: parsed by encodeWithSpecialTokens only.
        String chat = ChatTemplate.llama3(List.of(ChatTemplate.Message.user("Hi there")));
        int[] ids = tok.encodeWithSpecialTokens(chat);
        assertEquals(128000, ids[0]);
        assertEquals(128006, ids[1]);
        assertEquals("Hi there", tok.decode(tok.encode("Hi there")));
        assertEquals("user\n\nHi there" + "assistant\n\n", tok.decode(ids));
        for (int id : tok.encode(chat)) assertTrue(id < 128000, "encode must not produce special tokens");
    }

    @Test
    void llama2GgufMatchesOracle() throws Exception {
        Tokenizer tok = llama2Gguf;
        assertEquals(32000, tok.vocabSize());
        assertEquals(1, tok.bosId());
        assertTrue(tok.isEndOfGeneration(2));
        compare(tok, "llama2");
    }

    @Test
    void tokenizerJsonMatchesOracle() throws Exception {
        // Llama 3 style tokenizer.json built from the oracle's vocabulary.
        ObjectNode root = OM.createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.put("ignore_merges", true);
        ObjectNode vocab = model.putObject("vocab");
        String[] t3 = tokens(llama3Dump);
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < t3.length; i++) {
            if (i < 128000) vocab.put(t3[i], i);
            else added.addObject().put("id", i).put("content", t3[i]).put("special", true);
        }
        ArrayNode merges = model.putArray("merges");
        for (JsonNode m : llama3Dump.get("merges")) merges.add(m.get(0).asText() + " " + m.get(1).asText());
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode pres = pre.putArray("pretokenizers");
        pres.addObject().put("type", "Split").putObject("pattern").put("Regex", BpeTokenizer.LLAMA3_REGEX);
        pres.addObject().put("type", "ByteLevel").put("add_prefix_space", false);
        root.putObject("decoder").put("type", "ByteLevel");
        Path tj = tmp.resolve("llama3-tokenizer.json");
        OM.writeValue(tj.toFile(), root);
        Path cfg = tmp.resolve("llama3-tokenizer_config.json");
        Files.writeString(cfg, "{\"bos_token\":\"<|begin_of_text|>\",\"eos_token\":\"<|eot_id|>\",\"add_bos_token\":true}");
        Tokenizer tok3 = Tokenizers.fromTokenizerJson(tj, cfg);
        assertEquals(128000, tok3.bosId());
        assertEquals(128009, tok3.eosId());
        compare(tok3, "llama3");

        // Llama 2 style (SentencePiece BPE with byte fallback, merges as pairs: rank priority).
        ObjectNode r2 = OM.createObjectNode();
        ObjectNode m2 = r2.putObject("model");
        m2.put("type", "BPE").put("byte_fallback", true).put("unk_token", "<unk>").put("fuse_unk", true);
        ObjectNode v2 = m2.putObject("vocab");
        String[] t2 = tokens(llama2Dump);
        for (int i = 0; i < t2.length; i++) v2.put(t2[i], i);
        ArrayNode a2 = r2.putArray("added_tokens");
        for (int i = 0; i < 3; i++) a2.addObject().put("id", i).put("content", t2[i]).put("special", true);
        ArrayNode mg2 = m2.putArray("merges");
        for (JsonNode m : llama2Dump.get("merges")) mg2.addArray().add(m.get(0).asText()).add(m.get(1).asText());
        ObjectNode norm = r2.putObject("normalizer");
        norm.put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
        ObjectNode rep = ns.addObject().put("type", "Replace");
        rep.putObject("pattern").put("String", " ");
        rep.put("content", "\u2581");
        Path tj2 = tmp.resolve("llama2-tokenizer.json");
        OM.writeValue(tj2.toFile(), r2);
        Tokenizer tok2 = Tokenizers.fromTokenizerJson(tj2, null);
        assertEquals(1, tok2.bosId());
        assertEquals(2, tok2.eosId());
        compare(tok2, "llama2");
    }

    @Test
    void longContextIsFast() {
        Tokenizer l3 = llama3Gguf;
        Tokenizer l2 = llama2Gguf;
        String text = randomText(new Random(7), 80_000);
        for (Tokenizer tok : List.of(l3, l2)) {
            tok.encode(text.substring(0, 20_000)); // warm up
            long t0 = System.nanoTime();
            int[] ids = tok.encode(text);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ids.length > 100_000, "expected > 100K tokens, got " + ids.length);
            assertTrue(ms < 2000, "encoding " + ids.length + " tokens took " + ms + " ms");
            assertEquals(text, tok.decode(ids));
            System.out.println(tok.getClass().getSimpleName() + ": " + ids.length + " tokens in " + ms + " ms");
        }
        // One huge pre-token without spaces (worst case for per-piece BPE).
        String blob = "abcdefghij".repeat(50_000);
        long t0 = System.nanoTime();
        int[] ids = l3.encode(blob);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(blob, l3.decode(ids));
        assertTrue(ms < 2000, "500K-char word took " + ms + " ms");
    }
}
