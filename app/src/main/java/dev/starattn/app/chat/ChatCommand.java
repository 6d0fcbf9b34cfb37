package dev.starattn.app.chat;

import dev.starattn.cli.UsageException;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code starattn chat}: questions about a document encoded once, or a plain conversation. */
@Command(name = "chat", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Chat about a document: it is encoded once over the hosts (star attention phase 1), each question is a phase-2 query"
                + " that keeps the conversation. Commands: /load FILE, /reset, /stats, /exit.",
                "Reads piped lines when standard input is not a terminal."})
public final class ChatCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF file or Hugging Face model directory.")
    Path model;

    @Option(names = "--context-file", description = "The document to talk about (default: none).")
    Path contextFile;

    @Option(names = "--system", description = "A system prompt.")
    String system;

    @Option(names = "--template-var", paramLabel = "NAME=VALUE",
            description = "A variable for the chat template, e.g. enable_thinking=false for Qwen3 (true/false are booleans). Repeatable.")
    java.util.Map<String, String> templateVars = new java.util.LinkedHashMap<>();

    @Option(names = "--hosts", defaultValue = "4", description = "In-process context hosts (default: ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = {"-n", "--max-new-tokens"}, defaultValue = "256", description = "Tokens per answer at most (default: ${DEFAULT-VALUE}).")
    int maxNew;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling threshold (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Seed for sampling.")
    long seed;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (maxNew < 1) throw new UsageException("-n must be 1 or more, got " + maxNew);
        if (hosts < 1 || hosts > dev.starattn.engine.EngineOptions.MAX_HOSTS) {
            throw new UsageException("--hosts takes 1 to " + dev.starattn.engine.EngineOptions.MAX_HOSTS + ", got " + hosts);
        }
        SamplingOptions sampling = UsageException.check(() -> new SamplingOptions(temperature, topP, seed));
        String document = contextFile != null ? readDocument(contextFile) : null;
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean interactive = System.console() != null && System.console().isTerminal();
        try (LoadedModel m = ModelLoader.load(model)) {
            ChatSession s = new ChatSession(m, system, templateVariables(), hosts, sampling, maxNew, out, err);
            err.printf("loaded %s (%s); chat template: %s%n", model.getFileName(), m.config(), s.conversation().templateName());
            err.flush();
            if (document != null) load(s, document, contextFile, err);
            if (interactive) err.println("Ask a question; /load FILE, /reset, /stats, /exit. Ctrl-D ends.");
            try (LineSource lines = LineSource.open(System.in, interactive)) {
                for (String line; (line = lines.readLine("> ")) != null; ) {
                    String q = line.strip();
                    if (q.isEmpty()) continue;
                    if (q.equals("/exit") || q.equals("/quit")) break;
                    try {
                        if (!command(s, q, err)) s.ask(q);
                    } catch (IllegalArgumentException e) {
                        err.println("starattn: " + e.getMessage());  // one bad turn does not end the session
                    }
                    err.flush();
                }
            }
        }
        return 0;
    }

    private java.util.Map<String, Object> templateVariables() {
        java.util.Map<String, Object> v = new java.util.LinkedHashMap<>();
        templateVars.forEach((k, x) -> v.put(k, x.equals("true") ? Boolean.TRUE : x.equals("false") ? Boolean.FALSE : x));
        return v;
    }

    /** Runs a /command; false where the line is a question. */
    private boolean command(ChatSession s, String line, PrintWriter err) {
        if (!line.startsWith("/")) return false;
        String[] w = line.split("\\s+", 2);
        switch (w[0]) {
            case "/load" -> {
                if (w.length < 2) throw new UsageException("/load takes a file name");
                Path p = Path.of(w[1].strip());
                load(s, readDocument(p), p, err);
            }
            case "/reset" -> {
                s.conversation().reset();
                err.println("conversation cleared; the document stays encoded");
            }
            case "/stats" -> s.printStats();
            default -> throw new UsageException("unknown command " + w[0] + " (use /load FILE, /reset, /stats or /exit)");
        }
        return true;
    }

    private static void load(ChatSession s, String document, Path from, PrintWriter err) {
        long t0 = System.nanoTime();
        s.load(document);
        err.printf("encoded %s in %.0f ms%n", from.getFileName(), (System.nanoTime() - t0) / 1e6);
        err.flush();
    }

    private static String readDocument(Path p) {
        if (!Files.isRegularFile(p)) throw new UsageException("the document " + p + " does not exist or is not a file");
        try {
            String s = Files.readString(p);
            if (s.isBlank()) throw new UsageException("the document " + p + " is empty");
            return s;
        } catch (java.nio.charset.MalformedInputException e) {
            throw new UsageException("the document " + p + " is not UTF-8 text");
        } catch (java.io.IOException e) {
            throw new UsageException("cannot read the document " + p + ": " + e.getMessage());
        }
    }
}
