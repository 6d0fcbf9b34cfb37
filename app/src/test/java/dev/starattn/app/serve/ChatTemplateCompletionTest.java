package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.testutil.HfDirWriter;
import dev.starattn.testutil.InMemoryModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat completions on a model with its own chat template: every message goes through the
 * template, the earlier turns are the context and the last question the query; a template's
 * refusal (here: no system role, as Gemma's) is a 400 with its message.
 */
class ChatTemplateCompletionTest {
    static final String TEMPLATE = "{{ bos_token }}{% if messages[0]['role'] == 'system' and not allow_system is defined %}"
            + "{% if 'refuse' in messages[0]['content'] %}{{ raise_exception('System role not supported') }}{% endif %}{% endif %}"
            + "{% for m in messages %}<|reserved_257|>{{ m.role }}\n{{ m.content | trim }}<|reserved_258|>{% endfor %}"
            + "{% if add_generation_prompt %}<|reserved_257|>assistant\n{% endif %}";

    @Test
    void everyMessageGoesThroughTheTemplate(@TempDir Path dir) throws Exception {
        DecoderConfig c = new DecoderConfig("llama", 64, 2, 4, 2, 16, 96, 300, 512, 1e-5f, 10000f, 16, true,
                DecoderConfig.defaultInvFreq(10000f, 16), false, false);
        HfDirWriter.write(dir, c, new InMemoryModel(c, 5), true);
        ObjectMapper om = new ObjectMapper();
        Files.writeString(dir.resolve("tokenizer_config.json"), om.createObjectNode().put("chat_template", TEMPLATE)
                .put("bos_token", "<|reserved_256|>").put("eos_token", "<|reserved_258|>").put("add_bos_token", true).toString());
        try (LoadedModel m = ModelLoader.load(dir)) {
            ServedModel served = new ServedModel(m, null, "test", m.template(), 512);
            TokenBounds bounds = new TokenBounds(m.tokenizer(), 512);
            JsonNode body = om.readTree("""
                    {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                                  {"role": "assistant", "content": "hello"}, {"role": "user", "content": "why?"}]}""");
            CompletionJob job = CompletionJob.chat(served, bounds, body, null, 4);
            String ctx = m.tokenizer().decode(job.context());
            assertEquals(256, job.context()[0]);
            assertTrue(ctx.endsWith("system\nbe briefuser\nhiassistant\nhellouser\n"), ctx);  // control tokens decode to nothing; the last turn opens here
            assertEquals("why?assistant\n", m.tokenizer().decode(job.query()));
            assertEquals(258, job.query()[m.tokenizer().encode("why?").length], "the template closes the turn");

            JsonNode refused = om.readTree("""
                    {"messages": [{"role": "system", "content": "refuse"}, {"role": "user", "content": "hi there"}]}""");
            ApiError e = assertThrows(ApiError.class, () -> CompletionJob.chat(served, bounds, refused, null, 4));
            assertEquals(400, e.status);
            assertTrue(e.getMessage().contains("System role not supported"), e.getMessage());
        }
    }
}
