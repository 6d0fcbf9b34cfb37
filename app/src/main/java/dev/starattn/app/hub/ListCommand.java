package dev.starattn.app.hub;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.hub.Bytes;
import dev.starattn.hub.CachedModels;
import dev.starattn.hub.HubEnvironment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code starattn list}: what the Hugging Face cache (and llama.cpp's) holds, for {@code -m ORG/NAME}. */
@Command(name = "list", mixinStandardHelpOptions = true,
        description = "Show the cached models that -m ORG/NAME finds: huggingface_hub's cache and llama.cpp's, with size on disk, "
                + "family and revisions.")
public final class ListCommand implements Callable<Integer> {
    @Option(names = "--json", description = "One JSON array on stdout.")
    boolean json;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private final HubEnvironment env;

    public ListCommand() {
        this(HubEnvironment.fromSystem());
    }

    public ListCommand(HubEnvironment env) {
        this.env = env;
    }

    @Override
    public Integer call() throws Exception {
        List<CachedModels.Entry> entries = new CachedModels(env).list();
        if (json) {
            ObjectMapper om = new ObjectMapper();
            ArrayNode a = om.createArrayNode();
            for (CachedModels.Entry e : entries) {
                ObjectNode o = a.addObject();
                o.put("name", e.name()).put("family", e.family()).put("bytes", e.bytes()).put("source", e.source()).put("path", e.path().toString());
                ObjectNode revs = o.putObject("revisions");
                e.revisions().forEach(revs::put);
            }
            out().println(om.writeValueAsString(a));
            out().flush();
            return 0;
        }
        if (entries.isEmpty()) {
            System.err.println("no models in " + env.hubCache() + " or " + env.llamaCache() + "; download one with `starattn pull ORG/NAME`.");
            return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"MODEL", "FAMILY", "SIZE", "REVISIONS", "CACHE"});
        for (CachedModels.Entry e : entries) {
            rows.add(new String[] {e.name(), e.family(), Bytes.human(e.bytes()), revisions(e.revisions()), e.source()});
        }
        int[] w = new int[5];
        for (String[] r : rows) for (int i = 0; i < 5; i++) w[i] = Math.max(w[i], r[i].length());
        for (String[] r : rows) {
            out().println(String.format("%-" + w[0] + "s  %-" + w[1] + "s  %" + w[2] + "s  %-" + w[3] + "s  %s", (Object[]) r).stripTrailing());
        }
        out().flush();
        return 0;
    }

    private static String revisions(Map<String, String> revs) {
        if (revs.isEmpty()) return "-";
        List<String> parts = new ArrayList<>();
        revs.forEach((ref, sha) -> parts.add(ref + "=" + sha.substring(0, 12)));
        return String.join(", ", parts);
    }

    private java.io.PrintWriter out() {
        return spec.commandLine().getOut();
    }
}
