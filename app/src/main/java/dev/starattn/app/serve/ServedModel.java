package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.strategy.AutoAttention;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;

/**
 * The one model served: its engine, the id clients name it by (the file name without .gguf, or ORG/NAME of a Hub snapshot), its
 * prompt template, and the most tokens one request may occupy (--max-context within the model's).
 */
record ServedModel(LoadedModel model, InferenceEngine engine, String id, PromptTemplate template, int maxContext,
                   AutoAttention.Picker auto) {
    ServedModel(LoadedModel model, InferenceEngine engine, String id, PromptTemplate template, int maxContext) {
        this(model, engine, id, template, maxContext, null);
    }

    static ServedModel of(LoadedModel model, InferenceEngine engine, ServerConfig cfg) {
        return of(model, engine, cfg, null);
    }

    /** {@code auto}: {@code --attention auto}, the strategy chosen per context by it; null: the engine's own. */
    static ServedModel of(LoadedModel model, InferenceEngine engine, ServerConfig cfg, AutoAttention.Picker auto) {
        String file = dev.starattn.hub.ModelLocator.displayName(model.path()); // ORG/NAME for a Hub snapshot
        String id = file.endsWith(".gguf") ? file.substring(0, file.length() - 5) : file;
        PromptTemplate template = model.template() != null ? model.template() : PromptTemplate.BASE;
        int modelMax = model.config().contextLength() > 0 ? model.config().contextLength() : Integer.MAX_VALUE;
        int maxContext = cfg.maxContext() > 0 ? Math.min(cfg.maxContext(), modelMax) : modelMax;
        return new ServedModel(model, engine, id, template, maxContext, auto);
    }

    /** The engine for a context of {@code n} tokens and, under {@code --attention auto}, why (else null). */
    record Fitted(InferenceEngine engine, AutoAttention.Choice choice) {}

    /** The engine a context of {@code n} tokens runs on: auto's choice when asked for, on as many hosts as it can be split into. */
    Fitted engineFor(int n) {
        if (auto == null) return new Fitted(engine.fittedTo(n), null);
        AutoAttention.Choice c = auto.choose(n);
        return new Fitted(engine.withOptions(c.applyTo(engine.options())).fittedTo(n), c);
    }

    /** The model as {@code GET /v1/models} lists it. */
    ObjectNode json() {
        ObjectNode m = Responses.JSON.createObjectNode();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", System.currentTimeMillis() / 1000);
        m.put("owned_by", "starattn");
        m.put("context_length", maxContext == Integer.MAX_VALUE ? 0 : maxContext);
        m.put("template", template.name());
        m.put("attention", auto != null ? AutoAttention.NAME : engine.options().strategy().name());
        m.put("hosts", engine.options().hosts());
        return m;
    }
}
