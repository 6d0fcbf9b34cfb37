package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** The line {@code starattn host} prints on stdout once bound: what scripts and HostProcess read. */
class HostCommandTest {
    @Test
    void listeningLineGivesAnAddressForHostAddrs() throws Exception {
        JsonNode v4 = new ObjectMapper().readTree(HostCommand.listeningLine("127.0.0.1", 41234, "abc-123"));
        assertEquals("127.0.0.1:41234", v4.get("listening").asText());
        assertEquals(41234, v4.get("port").asInt());
        assertEquals("abc-123", v4.get("fingerprint").asText());
        assertEquals("[::1]:7101", new ObjectMapper().readTree(HostCommand.listeningLine("::1", 7101, "f")).get("listening").asText());
        assertEquals("{\"listening\":\"0.0.0.0:9\",\"port\":9,\"fingerprint\":\"f\"}", HostCommand.listeningLine("0.0.0.0", 9, "f"));
    }

    /** The session limits are checked before the model is loaded: one line, a non-zero exit. */
    @Test
    void badSessionLimitsAreOneLineErrors() {
        BadInputTest.assertOneLineError(BadInputTest.run("host", "-m", "unused.gguf", "--port", "0", "--session-ttl", "0"),
                "--session-ttl takes a positive number of seconds");
        BadInputTest.assertOneLineError(BadInputTest.run("host", "-m", "unused.gguf", "--port", "0", "--session-ttl", "NaN"),
                "--session-ttl takes a positive number of seconds");
        BadInputTest.assertOneLineError(BadInputTest.run("host", "-m", "unused.gguf", "--port", "0", "--session-grace", "-1"),
                "--session-grace takes 0 or more seconds");
    }
}
