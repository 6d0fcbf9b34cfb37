package dev.starattn.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.starattn.tokenizer.ChatTemplate.Message;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;

/**
 * A model's own chat template (the Jinja text of {@code tokenizer_config.json}'s
 * {@code chat_template} or GGUF's {@code tokenizer.chat_template}) rendered as transformers'
 * {@code apply_chat_template} renders it: {@code trim_blocks} and {@code lstrip_blocks} on, the
 * variables {@code messages}, {@code add_generation_prompt}, {@code bos_token}, {@code eos_token},
 * and the functions {@code raise_exception} and {@code strftime_now}. Python's string methods are
 * available on strings; {@code tojson} writes JSON as Python's {@code json.dumps} does.
 */
public final class JinjaChatTemplate {
    private final String source;
    /** The source with Jinjava's differences from Jinja worked around (see {@link JinjavaSourceFixes}). */
    private final String compiled;
    private final String bosToken;
    private final String eosToken;
    private final Jinjava jinjava;

    /** {@code bosToken}/{@code eosToken}: the strings of the model's BOS and EOS tokens, or null where it has none. */
    public JinjaChatTemplate(String source, String bosToken, String eosToken) {
        if (source == null || source.isBlank()) throw new IllegalArgumentException("the chat template is empty");
        this.source = source;
        this.compiled = JinjavaSourceFixes.apply(source);
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinjava = newEngine();
    }

    public String source() {
        return source;
    }

    /** The string of the BOS token as the template sees it, or null. */
    public String bosToken() {
        return bosToken;
    }

    public String eosToken() {
        return eosToken;
    }

    /** Renders {@code messages}; {@code extra} adds template variables (say {@code enable_thinking}), may be empty. */
    public String render(List<Message> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("role", m.role());
            j.put("content", m.content());
            msgs.add(j);
        }
        Map<String, Object> vars = new HashMap<>(extra);
        vars.put("messages", msgs);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", bosToken == null ? "" : bosToken);
        vars.put("eos_token", eosToken == null ? "" : eosToken);
        RenderResult r;
        try {
            r = jinjava.renderForResult(compiled, vars);
        } catch (TemplateFunctions.Raised e) {
            throw new ChatTemplateException("the model's chat template refused these messages: " + e.getMessage());
        } catch (RuntimeException e) {
            throw new ChatTemplateException("the model's chat template could not be rendered: " + e.getMessage());
        }
        for (TemplateError e : r.getErrors()) {
            Throwable cause = e.getException();
            while (cause != null && !(cause instanceof TemplateFunctions.Raised)) cause = cause.getCause();
            if (cause != null) throw new ChatTemplateException("the model's chat template refused these messages: " + cause.getMessage());
            if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new ChatTemplateException("the model's chat template could not be rendered (line " + e.getLineno() + "): " + e.getMessage());
            }
        }
        return r.getOutput();
    }

    public String render(List<Message> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    private static Jinjava newEngine() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withElResolver(resolver)
                // Message text is data: a {{ }} inside it must print as written, never run.
                .withNestedInterpretationEnabled(false)
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .withKeepNullableLoopValues(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .build())
                .build();
        Jinjava j = new Jinjava(config);
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", TemplateFunctions.class, "raiseException", String.class));
        j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", TemplateFunctions.class, "strftimeNow", String.class));
        j.getGlobalContext().registerFilter(new PythonJsonFilter());
        j.getGlobalContext().registerFilter(new TrimFilter());
        return j;
    }
}
