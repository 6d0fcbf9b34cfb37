package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.app.Main;
import dev.starattn.cluster.HostServer;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --host-addrs ... --attention ring|ring-zigzag}: hosts pass KV to each other; tokens as dense. */
class RingCliTest {
    @TempDir Path dir;

    static JsonNode generate(Path m, String... more) throws Exception {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        List<String> args = new ArrayList<>(List.of("generate", "-m", m.toString(), "--context",
                "the quick brown fox jumps over the lazy dog again and again while the river runs blue past seven stones",
                "--query", "what jumps?", "-n", "5", "--json"));
        args.addAll(List.of(more));
        int code = cl.execute(args.toArray(String[]::new));
        assertEquals(0, code, err.toString());
        return new ObjectMapper().readTree(out.toString());
    }

    @Test
    void ringOverRemoteHostsGivesDenseTokensAndReportsRingTraffic() throws Exception {
        Path m = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).write(dir.resolve("m.gguf"));
        JsonNode dense = generate(m, "--attention", "dense");
        List<AutoCloseable> open = new ArrayList<>();
        try {
            List<String> addrs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                LoadedModel hm = ModelLoader.load(m);
                open.add(hm);
                HostServer s = HostServer.builder(hm).port(0).start();
                open.add(s::shutdownNow);
                addrs.add("127.0.0.1:" + s.port());
            }
            for (String mode : new String[] {"ring", "ring-zigzag"}) {
                JsonNode j = generate(m, "--attention", mode, "--host-addrs", String.join(",", addrs));
                assertEquals(dense.get("tokens"), j.get("tokens"), mode);
                assertEquals(mode, j.get("attention").asText());
                assertEquals(4, j.get("hosts").size(), "three remote hosts and this process: " + j.get("hosts"));
                int remoteTokens = 0;
                for (JsonNode h : j.get("hosts")) {
                    if (!addrs.contains(h.get("name").asText())) {
                        assertTrue(h.get("query_host").asBoolean());
                        assertEquals(0, h.get("tokens").asInt(), "the query host holds no context in a networked ring");
                        continue;
                    }
                    remoteTokens += h.get("tokens").asInt();
                    assertTrue(h.get("phase1_bytes_sent").asLong() > 1000 && h.get("phase1_bytes_received").asLong() > 1000,
                            "ring traffic in the per-host stats: " + h);
                }
                assertEquals(dense.get("hosts").get(0).get("tokens").asInt(), remoteTokens, "the remote hosts hold the whole context");
            }
        } finally {
            for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
        }
    }
}
