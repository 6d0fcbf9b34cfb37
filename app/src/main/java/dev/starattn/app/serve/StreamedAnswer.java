package dev.starattn.app.serve;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import org.eclipse.jetty.server.Response;

/** OpenAI's streaming format: {@code data: <chunk>} events, then {@code data: [DONE]}. */
final class StreamedAnswer implements AnswerSink {
    private final SseStream sse;
    private final boolean chat, includeUsage;
    private final String modelId;
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    private boolean first = true;

    StreamedAnswer(Response resp, boolean chat, boolean includeUsage, String modelId) {
        this.sse = new SseStream(resp, true);
        this.chat = chat;
        this.includeUsage = includeUsage;
        this.modelId = modelId;
        this.id = (chat ? "chatcmpl-" : "cmpl-") + RandomIds.hex(12);
    }

    private ObjectNode chunk() {
        ObjectNode j = Responses.JSON.createObjectNode();
        j.put("id", id);
        j.put("object", chat ? "chat.completion.chunk" : "text_completion");
        j.put("created", created);
        j.put("model", modelId);
        return j;
    }

    private ObjectNode choice(ObjectNode chunk, String text, String finishReason) {
        ObjectNode c = chunk.putArray("choices").addObject();
        c.put("index", 0);
        if (chat) {
            ObjectNode d = c.putObject("delta");
            if (first) d.put("role", "assistant");
            if (text != null) d.put("content", text);
        } else {
            c.put("text", text == null ? "" : text);
            c.putNull("logprobs");
        }
        first = false;
        if (finishReason == null) c.putNull("finish_reason");
        else c.put("finish_reason", finishReason);
        return c;
    }

    private void send(String data) throws IOException {
        sse.data(data);
    }

    /** A chat stream opens with an empty delta that carries the role. */
    private void start() throws IOException {
        if (!chat) return;
        ObjectNode c = chunk();
        choice(c, "", null);
        if (includeUsage) c.putNull("usage");
        send(Responses.JSON.writeValueAsString(c));
    }

    @Override
    public void delta(String text) throws IOException {
        if (text.isEmpty()) return;
        if (first) start();
        ObjectNode c = chunk();
        choice(c, text, null);
        if (includeUsage) c.putNull("usage");
        send(Responses.JSON.writeValueAsString(c));
    }

    @Override
    public boolean alive() {
        return !sse.gone();
    }

    @Override
    public void finish(String finishReason, ObjectNode usage, ObjectNode extra) throws IOException {
        if (first) start();
        ObjectNode c = chunk();
        choice(c, null, finishReason);
        c.set("starattn", extra);
        if (includeUsage) c.putNull("usage");
        send(Responses.JSON.writeValueAsString(c));
        if (includeUsage) {
            ObjectNode u = chunk();
            u.putArray("choices");
            u.set("usage", usage);
            send(Responses.JSON.writeValueAsString(u));
        }
        send("[DONE]");
    }

    @Override
    public void error(ApiError e) throws IOException {
        ObjectNode j = Responses.JSON.createObjectNode();
        ObjectNode err = j.putObject("error");
        err.put("message", e.getMessage());
        err.put("type", e.type);
        err.put("code", e.code);
        send(Responses.JSON.writeValueAsString(j));
        send("[DONE]");
    }

    void close() throws IOException {
        sse.close();
    }
}
