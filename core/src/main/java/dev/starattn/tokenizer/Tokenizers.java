package dev.starattn.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Builds a {@link Tokenizer} from GGUF metadata or from Hugging Face tokenizer files. */
public final class Tokenizers {
    private Tokenizers() {}

    /**
     * From GGUF metadata ({@code tokenizer.ggml.*} keys). Supported models: {@code llama}
     * (SentencePiece-style BPE with scores) and {@code gpt2} (byte-level BPE with merges; the
     * pre-tokenizer is the Llama 3 one for {@code pre = llama-bpe / llama3 / llama-v3}, GPT-2's
     * otherwise). Integer arrays may be int[] or long[], ids Integer or Long.
     */
    public static Tokenizer fromGgufMetadata(Map<String, Object> md) {
        String model = str(md, "tokenizer.ggml.model");
        if (model == null) {
            throw new ModelFormatException("The model file has no tokenizer (metadata key tokenizer.ggml.model is missing).");
        }
        String[] tokens = strArray(md, "tokenizer.ggml.tokens");
        if (tokens == null || tokens.length == 0) {
            throw new ModelFormatException("The model file has no vocabulary (metadata key tokenizer.ggml.tokens is missing or empty).");
        }
        int n = tokens.length;
        int[] types = intArray(md, "tokenizer.ggml.token_type");
        if (types != null && types.length != n) {
            throw new ModelFormatException("tokenizer.ggml.token_type has " + types.length
                    + " entries but tokenizer.ggml.tokens has " + n + "; the model file is inconsistent.");
        }
        int bos = id(md, "tokenizer.ggml.bos_token_id", n);
        int eos = id(md, "tokenizer.ggml.eos_token_id", n);
        int unk = id(md, "tokenizer.ggml.unknown_token_id", n);
        Set<Integer> extraEog = new LinkedHashSet<>();
        for (String k : List.of("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")) {
            int v = id(md, k, n);
            if (v >= 0) extraEog.add(v);
        }
        Boolean addBosKey = bool(md, "tokenizer.ggml.add_bos_token");
        switch (model) {
            case "llama" -> {
                if (types == null) types = inferSpmTypes(tokens, bos, eos, unk);
                float[] scores = md.get("tokenizer.ggml.scores") instanceof float[] f ? f : null;
                if (scores != null && scores.length != n) {
                    throw new ModelFormatException("tokenizer.ggml.scores has " + scores.length
                            + " entries but tokenizer.ggml.tokens has " + n + "; the model file is inconsistent.");
                }
                if (unk < 0) unk = findType(types, TokenType.UNKNOWN);
                Boolean spacePrefix = bool(md, "tokenizer.ggml.add_space_prefix");
                return SpmTokenizer.withScores(tokens, scores, types, bos, eos, unk,
                        addBosKey == null || addBosKey, spacePrefix == null || spacePrefix, extraEog);
            }
            case "gpt2" -> {
                String[] mergeStrings = strArray(md, "tokenizer.ggml.merges");
                if (mergeStrings == null) {
                    throw new ModelFormatException("The gpt2-style tokenizer has no merges (metadata key tokenizer.ggml.merges is missing).");
                }
                if (types == null) {
                    types = new int[n];
                    java.util.Arrays.fill(types, TokenType.NORMAL);
                    if (bos >= 0) types[bos] = TokenType.CONTROL;
                    if (eos >= 0) types[eos] = TokenType.CONTROL;
                }
                String pre = str(md, "tokenizer.ggml.pre");
                boolean llama3 = pre != null && (pre.equals("llama-bpe") || pre.equals("llama3") || pre.equals("llama-v3"));
                return new BpeTokenizer(tokens, types, splitMerges(mergeStrings), llama3 ? BpeTokenizer.LLAMA3_REGEX
                        : BpeTokenizer.GPT2_REGEX, llama3, bos, eos, unk, addBosKey != null ? addBosKey : llama3, extraEog);
            }
            default -> throw new ModelFormatException("Tokenizer model " + Printable.quote(model)
                    + " (metadata key tokenizer.ggml.model) is not supported; supported are 'llama' and 'gpt2'.");
        }
    }

    /**
     * From a Hugging Face {@code tokenizer.json} (model type BPE), either byte-level (Llama 3
     * style: ByteLevel pre-tokenizer, optionally after a Split regex) or SentencePiece-style (Llama
     * 2 style: byte_fallback, normalizer Prepend "▁" + Replace " " → "▁"; merge ranks give the
     * priority). Added tokens become special tokens (control if {@code special}, else
     * user-defined). BOS/EOS and add_bos come from {@code tokenizer_config.json} when given.
     */
    public static Tokenizer fromTokenizerJson(Path tokenizerJson, Path tokenizerConfigJsonOrNull) {
        ObjectMapper om = new ObjectMapper();
        JsonNode root;
        JsonNode config = null;
        try {
            root = om.readTree(tokenizerJson.toFile());
            if (tokenizerConfigJsonOrNull != null && Files.exists(tokenizerConfigJsonOrNull)) {
                config = om.readTree(tokenizerConfigJsonOrNull.toFile());
            }
        } catch (IOException e) {
            throw new ModelFormatException("Cannot read tokenizer file " + tokenizerJson + ": " + e.getMessage(), e);
        }
        JsonNode model = root.path("model");
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw new ModelFormatException("Tokenizer " + tokenizerJson + " uses model type " + Printable.quote(type)
                    + "; only BPE tokenizers are supported.");
        }
        JsonNode vocab = model.path("vocab");
        if (!vocab.isObject()) {
            throw new ModelFormatException("Tokenizer " + tokenizerJson + " has no model.vocab object.");
        }
        // Ids must be distinct non-negative integers that index a table no larger than the entries
        // given: a string id, a repeated id or a huge one would silently map text to the wrong token.
        int entries = vocab.size() + root.path("added_tokens").size();
        int n = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            n = Math.max(n, tokenId(tokenizerJson, "model.vocab entry " + Printable.quote(e.getKey()), e.getValue(), entries) + 1);
        }
        for (JsonNode at : root.path("added_tokens")) {
            n = Math.max(n, tokenId(tokenizerJson, "added_tokens entry " + Printable.quote(at.path("content").asText()), at.path("id"), entries) + 1);
        }
        String[] tokens = new String[n];
        int[] types = new int[n];
        java.util.Arrays.fill(types, TokenType.UNUSED);
        for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = e.getValue().intValue();
            if (tokens[id] != null) {
                throw new ModelFormatException("Tokenizer " + tokenizerJson + ": model.vocab gives id " + id + " to both "
                        + Printable.quote(tokens[id]) + " and " + Printable.quote(e.getKey()) + ".");
            }
            tokens[id] = e.getKey();
            types[id] = TokenType.NORMAL;
        }
        for (JsonNode at : root.path("added_tokens")) {
            int id = at.path("id").intValue();
            String content = at.path("content").asText();
            // An added token usually repeats its vocabulary entry; a different text under the same id is a conflict.
            if (tokens[id] != null && !tokens[id].equals(content)) {
                throw new ModelFormatException("Tokenizer " + tokenizerJson + ": added_tokens gives id " + id + " to "
                        + Printable.quote(content) + ", which model.vocab gives to " + Printable.quote(tokens[id]) + ".");
            }
            tokens[id] = content;
            types[id] = at.path("special").asBoolean(false) ? TokenType.CONTROL : TokenType.USER_DEFINED;
        }
        for (int i = 0; i < n; i++) if (tokens[i] == null) tokens[i] = "";
        List<String[]> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            if (m.isArray() && m.size() == 2) {
                merges.add(new String[] {m.get(0).asText(), m.get(1).asText()});
            } else if (m.isTextual()) {
                String s = m.asText();
                int sp = s.indexOf(' ', 1);
                if (sp < 0) throw new ModelFormatException("Tokenizer " + tokenizerJson + " has a malformed merge " + Printable.quote(s) + ".");
                merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
            }
        }
        String unkText = model.path("unk_token").isTextual() ? model.path("unk_token").asText() : null;
        int unk = unkText != null ? indexOf(tokens, unkText) : -1;
        if (unk >= 0) types[unk] = TokenType.UNKNOWN;

        String bosText = config != null ? tokenString(config.get("bos_token")) : null;
        String eosText = config != null ? tokenString(config.get("eos_token")) : null;
        if (bosText == null) bosText = firstPresent(tokens, "<|begin_of_text|>", "<s>", "<bos>");
        if (eosText == null) eosText = firstPresent(tokens, "<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>");
        int bos = bosText != null ? indexOf(tokens, bosText) : -1;
        int eos = eosText != null ? indexOf(tokens, eosText) : -1;
        Boolean addBos = config != null && config.has("add_bos_token") && config.get("add_bos_token").isBoolean()
                ? config.get("add_bos_token").asBoolean() : null;
        if (addBos == null) {
            addBos = bosText != null && root.path("post_processor").toString().contains(jsonQuote(bosText));
        }
        // Every end-of-turn id that generation_config.json lists stops generation (Llama 3.1 lists <|eom_id|> and <|eot_id|>).
        List<Integer> extraEog = generationConfigEos(tokenizerJson.resolveSibling("generation_config.json"));

        boolean byteLevel = containsType(root.path("pre_tokenizer"), "ByteLevel") || containsType(root.path("decoder"), "ByteLevel");
        if (byteLevel) {
            String regex = findSplitRegex(root.path("pre_tokenizer"));
            if (regex == null) regex = BpeTokenizer.GPT2_REGEX;
            boolean ignoreMerges = model.path("ignore_merges").asBoolean(false);
            return new BpeTokenizer(tokens, types, merges, regex, ignoreMerges, bos, eos, unk, addBos, extraEog);
        }
        for (int i = 0; i < n; i++) {
            if (types[i] == TokenType.NORMAL && SpmTokenizer.parseByteToken(tokens[i]) >= 0) types[i] = TokenType.BYTE;
        }
        String normalizer = root.path("normalizer").toString();
        String pre = root.path("pre_tokenizer").toString();
        boolean spacePrefix = (normalizer.contains("\"Prepend\"") && normalizer.contains("\u2581"))
                || (pre.contains("\"Metaspace\"") && !pre.contains("\"never\"") && !pre.contains("\"add_prefix_space\":false"));
        return SpmTokenizer.withMerges(tokens, merges, types, bos, eos, unk, addBos, spacePrefix, extraEog);
    }

    // ---- helpers ----

    /** {@code eos_token_id} of generation_config.json (an int or a list of ints), or none. */
    static List<Integer> generationConfigEos(Path generationConfig) {
        if (!Files.isRegularFile(generationConfig)) return List.of();
        JsonNode j;
        try {
            j = new ObjectMapper().readTree(generationConfig.toFile());
        } catch (IOException e) {
            throw new ModelFormatException("Cannot read " + generationConfig + ": " + e.getMessage(), e);
        }
        JsonNode e = j.path("eos_token_id");
        List<Integer> ids = new ArrayList<>();
        if (e.isIntegralNumber()) ids.add(e.intValue());
        else for (JsonNode x : e) if (x.isIntegralNumber()) ids.add(x.intValue());
        return ids;
    }

    private static int tokenId(Path file, String what, JsonNode id, int entries) {
        if (!id.isIntegralNumber() || !id.canConvertToInt()) {
            throw new ModelFormatException("Tokenizer " + file + ": the id of " + what + " is " + Printable.escape(id.toString())
                    + ", not an integer.");
        }
        int v = id.intValue();
        if (v < 0 || v >= entries) {
            throw new ModelFormatException("Tokenizer " + file + ": the id of " + what + " is " + v
                    + ", outside 0.." + (entries - 1) + " for the " + entries + " tokens it lists.");
        }
        return v;
    }

    private static String jsonQuote(String s) {
        try {
            return new ObjectMapper().writeValueAsString(s);
        } catch (IOException e) {
            return "\"" + s + "\"";
        }
    }

    private static String tokenString(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.has("content")) return n.get("content").asText();
        return null;
    }

    private static String firstPresent(String[] tokens, String... names) {
        for (String s : names) if (indexOf(tokens, s) >= 0) return s;
        return null;
    }

    private static int indexOf(String[] tokens, String s) {
        for (int i = 0; i < tokens.length; i++) if (s.equals(tokens[i])) return i;
        return -1;
    }

    private static boolean containsType(JsonNode node, String type) {
        if (node == null || node.isMissingNode() || node.isNull()) return false;
        if (type.equals(node.path("type").asText(null))) return true;
        for (JsonNode child : node.path("pretokenizers")) if (containsType(child, type)) return true;
        for (JsonNode child : node.path("decoders")) if (containsType(child, type)) return true;
        return false;
    }

    private static String findSplitRegex(JsonNode node) {
        if (node == null || node.isMissingNode() || node.isNull()) return null;
        if ("Split".equals(node.path("type").asText(null)) && node.path("pattern").has("Regex")) {
            return node.path("pattern").path("Regex").asText();
        }
        for (JsonNode child : node.path("pretokenizers")) {
            String r = findSplitRegex(child);
            if (r != null) return r;
        }
        return null;
    }

    private static List<String[]> splitMerges(String[] merges) {
        List<String[]> out = new ArrayList<>(merges.length);
        for (String s : merges) {
            int sp = s.indexOf(' ', 1);
            if (sp < 0) {
                throw new ModelFormatException("tokenizer.ggml.merges has a malformed entry " + Printable.quote(s) + " (expected 'a b').");
            }
            out.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
        }
        return out;
    }

    private static int[] inferSpmTypes(String[] tokens, int bos, int eos, int unk) {
        int[] t = new int[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            t[i] = SpmTokenizer.parseByteToken(tokens[i]) >= 0 ? TokenType.BYTE : TokenType.NORMAL;
        }
        if (bos >= 0) t[bos] = TokenType.CONTROL;
        if (eos >= 0) t[eos] = TokenType.CONTROL;
        if (unk >= 0) t[unk] = TokenType.UNKNOWN;
        return t;
    }

    private static int findType(int[] types, int type) {
        for (int i = 0; i < types.length; i++) if (types[i] == type) return i;
        return -1;
    }

    private static String str(Map<String, Object> md, String key) {
        Object v = md.get(key);
        if (v == null) return null;
        if (v instanceof String s) return s;
        throw wrongType(key, v, "a string");
    }

    private static Boolean bool(Map<String, Object> md, String key) {
        Object v = md.get(key);
        if (v == null) return null;
        if (v instanceof Boolean b) return b;
        if (v instanceof Number num) return num.longValue() != 0;
        throw wrongType(key, v, "a boolean");
    }

    private static int id(Map<String, Object> md, String key, int vocabSize) {
        Object v = md.get(key);
        if (v == null) return -1;
        if (!(v instanceof Number num)) throw wrongType(key, v, "an integer");
        long x = num.longValue();
        // -1 (or its unsigned 32-bit form) is how writers say "no such token".
        if (x == -1 || x == 0xFFFFFFFFL) return -1;
        if (x < 0) {
            throw new ModelFormatException("Metadata key " + key + " = " + x + " is a negative token id; the model file is inconsistent.");
        }
        if (x >= vocabSize) {
            throw new ModelFormatException("Metadata key " + key + " = " + x + " is outside the vocabulary of "
                    + vocabSize + " tokens; the model file is inconsistent.");
        }
        return (int) x;
    }

    private static String[] strArray(Map<String, Object> md, String key) {
        Object v = md.get(key);
        if (v == null) return null;
        if (v instanceof String[] a) return a;
        if (v instanceof List<?> l) return l.stream().map(String::valueOf).toArray(String[]::new);
        throw wrongType(key, v, "an array of strings");
    }

    private static int[] intArray(Map<String, Object> md, String key) {
        Object v = md.get(key);
        if (v == null) return null;
        if (v instanceof int[] a) return a;
        if (v instanceof long[] a) {
            int[] r = new int[a.length];
            for (int i = 0; i < a.length; i++) r[i] = (int) a[i];
            return r;
        }
        throw wrongType(key, v, "an array of integers");
    }

    private static ModelFormatException wrongType(String key, Object v, String expected) {
        return new ModelFormatException("Metadata key " + key + " should be " + expected + " but is a "
                + v.getClass().getSimpleName() + "; the model file is malformed.");
    }
}
