package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** A non-streaming answer: the text gathered whole, then one chat.completion or text_completion body. */
final class BufferedAnswer implements AnswerSink {
    private final ClientWatch client;
    private final String modelId;
    private final StringBuilder text = new StringBuilder();
    private final String id = "cmpl-" + RandomIds.hex(12);
    private String finishReason;
    private ObjectNode usage, extra;

    BufferedAnswer(ClientWatch client, String modelId) {
        this.client = client;
        this.modelId = modelId;
    }

    @Override
    public void delta(String t) {
        text.append(t);
    }

    @Override
    public boolean alive() {
        return !client.gone();
    }

    @Override
    public void finish(String finishReason, ObjectNode usage, ObjectNode extra) {
        this.finishReason = finishReason;
        this.usage = usage;
        this.extra = extra;
    }

    @Override
    public void error(ApiError e) {
        throw e;
    }

    ObjectNode response(boolean chat) {
        ObjectNode j = Responses.JSON.createObjectNode();
        j.put("id", (chat ? "chatcmpl-" : "cmpl-") + id.substring(5));
        j.put("object", chat ? "chat.completion" : "text_completion");
        j.put("created", System.currentTimeMillis() / 1000);
        j.put("model", modelId);
        ObjectNode c = j.putArray("choices").addObject();
        c.put("index", 0);
        if (chat) {
            ObjectNode m = c.putObject("message");
            m.put("role", "assistant");
            m.put("content", text.toString());
        } else {
            c.put("text", text.toString());
            c.putNull("logprobs");
        }
        c.put("finish_reason", finishReason);
        j.set("usage", usage);
        j.set("starattn", extra);
        return j;
    }
}
