package dev.starattn.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.format.ModelFormatException;
import dev.starattn.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Finds the chat template a model ships: {@code chat_template.jinja} (as transformers 5 saves it),
 * else {@code tokenizer_config.json}'s {@code chat_template} (a string, or a list of named
 * templates, of which "default" is taken); in a GGUF file, {@code tokenizer.chat_template}.
 * Null where the model has none.
 */
public final class ModelChatTemplates {
    private ModelChatTemplates() {}

    public static JinjaChatTemplate fromHfDir(Path dir, Tokenizer tok) {
        try {
            JsonNode config = null;
            Path cfg = dir.resolve("tokenizer_config.json");
            if (Files.isRegularFile(cfg)) config = new ObjectMapper().readTree(cfg.toFile());
            String source = null;
            Path jinja = dir.resolve("chat_template.jinja");
            if (Files.isRegularFile(jinja)) source = Files.readString(jinja, StandardCharsets.UTF_8);
            else if (config != null) source = templateOf(config.get("chat_template"));
            if (source == null || source.isBlank()) return null;
            String bos = config != null ? tokenString(config.get("bos_token")) : null;
            String eos = config != null ? tokenString(config.get("eos_token")) : null;
            return new JinjaChatTemplate(source, bos != null ? bos : tokenText(tok, tok.bosId()), eos != null ? eos : tokenText(tok, tok.eosId()));
        } catch (IOException e) {
            throw new ModelFormatException("cannot read the chat template in " + dir + ": " + e.getMessage(), e);
        }
    }

    public static JinjaChatTemplate fromGguf(Map<String, Object> metadata, Tokenizer tok) {
        Object t = metadata.get("tokenizer.chat_template");
        if (!(t instanceof String source) || source.isBlank()) return null;
        return new JinjaChatTemplate(source, tokenText(tok, tok.bosId()), tokenText(tok, tok.eosId()));
    }

    private static String templateOf(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isArray()) {
            for (JsonNode e : n) if ("default".equals(e.path("name").asText())) return e.path("template").asText(null);
            return n.isEmpty() ? null : n.get(0).path("template").asText(null);
        }
        return null;
    }

    private static String tokenString(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.has("content")) return n.get("content").asText();
        return null;
    }

    private static String tokenText(Tokenizer tok, int id) {
        return id >= 0 && id < tok.vocabSize() ? tok.tokenText(id) : null;
    }
}
