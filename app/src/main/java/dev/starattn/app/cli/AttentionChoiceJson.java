package dev.starattn.app.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.engine.strategy.AutoAttention;

/** What {@code --attention auto} chose, why, and each candidate's predicted seconds, as generate, eval and serve write it. */
public final class AttentionChoiceJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private AttentionChoiceJson() {}

    public static ObjectNode of(AutoAttention.Choice c) {
        ObjectNode j = JSON.createObjectNode();
        j.put("chosen", c.strategy().name());
        j.put("hosts", c.strategy().hosts(c.hosts()));
        j.put("why", c.why());
        ObjectNode p = j.putObject("predicted_seconds");
        c.predictedSeconds().forEach(p::put);
        return j;
    }

    /** The line generate, eval and serve print: "attention auto: CHOSEN: WHY". */
    public static String line(AutoAttention.Choice c) {
        return "attention auto: " + c.strategy().name() + ": " + c.why();
    }
}
