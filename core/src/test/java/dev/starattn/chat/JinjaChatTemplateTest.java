package dev.starattn.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.tokenizer.ChatTemplate.Message;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The real chat templates of Llama 3.1/3.2, Qwen2.5, Qwen3, Gemma 2/3 and Mistral Nemo, rendered
 * here and by transformers ({@code tools/chat_template_fixtures.py} wrote expected.json), must give
 * the same prompt text, including the template's own refusals.
 */
class JinjaChatTemplateTest {
    static String resource(String name) throws IOException {
        try (InputStream in = JinjaChatTemplateTest.class.getResourceAsStream("/chat-templates/" + name)) {
            if (in == null) throw new IOException("missing test resource " + name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static List<Message> messages(JsonNode arr) {
        List<Message> out = new ArrayList<>();
        for (JsonNode m : arr) out.add(new Message(m.get("role").asText(), m.get("content").asText()));
        return out;
    }

    @TestFactory
    Stream<DynamicTest> rendersAsTransformersDoes() throws IOException {
        JsonNode all = new ObjectMapper().readTree(resource("expected.json"));
        List<DynamicTest> tests = new ArrayList<>();
        for (var model : all.properties()) {
            JsonNode spec = model.getValue();
            String src = resource(model.getKey() + ".jinja");
            JinjaChatTemplate t = new JinjaChatTemplate(src, spec.get("bos_token").isNull() ? null : spec.get("bos_token").asText(),
                    spec.get("eos_token").asText());
            for (var c : spec.get("cases").properties()) {
                JsonNode cs = c.getValue();
                tests.add(DynamicTest.dynamicTest(model.getKey() + " " + c.getKey(), () -> {
                    List<Message> msgs = messages(cs.get("messages"));
                    boolean agp = cs.get("add_generation_prompt").asBoolean();
                    Map<String, Object> vars = new java.util.HashMap<>(Map.of("date_string", "26 Jul 2024"));
                    if (cs.has("vars")) for (var v : cs.get("vars").properties()) vars.put(v.getKey(), v.getValue().isBoolean() ? v.getValue().asBoolean() : v.getValue().asText());
                    if (cs.has("error")) {
                        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(msgs, agp, vars));
                        assertTrue(e.getMessage().contains(cs.get("error").asText()), e.getMessage());
                    } else {
                        assertEquals(cs.get("expected").asText(), t.render(msgs, agp, vars));
                    }
                }));
            }
        }
        return tests.stream();
    }

    @Test
    void pythonStringMethodsAndJson() {
        JinjaChatTemplate t = new JinjaChatTemplate(
                "{{ messages[0].content.strip('x') }}|{{ messages[0].content.split('a')[-1] }}|{{ 'y' if messages[0].content.startswith('xa') else 'n' }}"
                        + "|{{ {'k': [1, 'é\"']} | tojson }}|{{ {'k': 1} | tojson(indent=2) }}|{{ messages | length }}",
                null, null);
        assertEquals("ab|bx|y|{\"k\": [1, \"é\\\"\"]}|{\n  \"k\": 1\n}|1", t.render(List.of(Message.user("xabx")), false));
    }

    @Test
    void keywordArgumentsTakeWholeExpressions() {
        JinjaChatTemplate t = new JinjaChatTemplate("{%- set ns = namespace(a=messages|length - 1, b='x=(y)') -%}{{ ns.a }}{{ ns.b }}", null, null);
        assertEquals("1x=(y)", t.render(List.of(Message.user("a"), Message.user("b")), false));
    }

    @Test
    void messageTextIsNeverRunAsTemplate() {
        JinjaChatTemplate t = new JinjaChatTemplate("{{ messages[0].content }}", null, null);
        assertEquals("{{ 7 * 6 }} {% if true %}x{% endif %}", t.render(List.of(Message.user("{{ 7 * 6 }} {% if true %}x{% endif %}")), false));
    }

    @Test
    void aTemplateErrorIsOneSentence() {
        JinjaChatTemplate t = new JinjaChatTemplate("{{ raise_exception('no tools here') }}", "<s>", "</s>");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> t.render(List.of(Message.user("hi")), true));
        assertEquals("the model's chat template refused these messages: no tools here", e.getMessage());
    }
}
