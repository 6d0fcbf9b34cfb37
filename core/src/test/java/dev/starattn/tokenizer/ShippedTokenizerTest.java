package dev.starattn.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.testutil.RepoPaths;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The shipped model's tokenizer, as its trainer (tools/train/tokenizer.py, an independent Python
 * implementation of llama.cpp's SentencePiece-style encoder) defines it, encodes exactly like ours:
 * every sample text of models/tokenizer_samples.json gives the trainer's ids, and decodes back.
 */
class ShippedTokenizerTest {
    static Tokenizer shipped() throws Exception {
        JsonNode v = new ObjectMapper().readTree(RepoPaths.root().resolve("tools/train/tokenizer_vocab.json").toFile());
        int n = v.get("tokens").size();
        String[] tokens = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = v.get("tokens").get(i).asText();
            scores[i] = (float) v.get("scores").get(i).asDouble();
            types[i] = v.get("token_type").get(i).asInt();
        }
        Map<String, Object> md = new HashMap<>();
        md.put("tokenizer.ggml.model", "llama");
        md.put("tokenizer.ggml.tokens", tokens);
        md.put("tokenizer.ggml.scores", scores);
        md.put("tokenizer.ggml.token_type", types);
        md.put("tokenizer.ggml.bos_token_id", 1);
        md.put("tokenizer.ggml.eos_token_id", 2);
        md.put("tokenizer.ggml.unknown_token_id", 0);
        md.put("tokenizer.ggml.add_space_prefix", true);
        return Tokenizers.fromGgufMetadata(md);
    }

    @Test
    void encodesTheTrainersSamplesExactly() throws Exception {
        Tokenizer t = shipped();
        JsonNode samples = new ObjectMapper().readTree(RepoPaths.root().resolve("models/tokenizer_samples.json").toFile());
        assertTrue(samples.size() >= 20, "the trainer wrote its samples");
        for (JsonNode s : samples) {
            String text = s.get("text").asText();
            int[] want = new int[s.get("ids").size()];
            for (int i = 0; i < want.length; i++) want[i] = s.get("ids").get(i).asInt();
            assertArrayEquals(want, t.encode(text), "encoding of: " + text);
            // A literal U+2581 in the text is indistinguishable from an encoded space (as in SentencePiece).
            if (!text.contains("\u2581")) assertEquals(text, t.decode(want), "decoding of: " + text);
        }
    }
}
