package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;

/**
 * The one model served: its engine, the id clients name it by (the file name without .gguf, or ORG/NAME of a Hub snapshot), its
 * prompt template, and the most tokens one request may occupy (--max-context within the model's).
 */
record ServedModel(LoadedModel model, InferenceEngine engine, String id, PromptTemplate template, int maxContext) {
    static ServedModel of(LoadedModel model, InferenceEngine engine, ServerConfig cfg) {
        String file = dev.starattn.hub.ModelLocator.displayName(model.path()); // ORG/NAME for a Hub snapshot
        String id = file.endsWith(".gguf") ? file.substring(0, file.length() - 5) : file;
        PromptTemplate template = model.template() != null ? model.template() : PromptTemplate.BASE;
        int modelMax = model.config().contextLength() > 0 ? model.config().contextLength() : Integer.MAX_VALUE;
        int maxContext = cfg.maxContext() > 0 ? Math.min(cfg.maxContext(), modelMax) : modelMax;
        return new ServedModel(model, engine, id, template, maxContext);
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
        m.put("attention", engine.options().strategy().name());
        m.put("hosts", engine.options().hosts());
        return m;
    }
}
