package dev.starattn.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A {@code starattn host} in a JVM of its own, started from this one: the same Java, class path
 * and JVM flags as the launcher ({@code ./starattn}), listening on loopback. Its stdout is read
 * for the line the {@code host} command prints once bound (so {@code --port 0} works); its stderr goes
 * to a log file. Used by {@code bench phase2 --processes} and by tests. The CLI's main class comes in
 * as data ({@link #launcher}), so that this module needs nothing of the app's.
 */
public final class HostProcess implements AutoCloseable {
    /**
     * What {@code ./starattn} passes to the JVM (-Xmn64m: a bounded young generation, see the
     * launcher; a host's garbage dies young like the CLI's).
     */
    public static final List<String> LAUNCHER_FLAGS = List.of("--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-Xmn64m", "--sun-misc-unsafe-memory-access=allow");

    /** What {@code ./starattn host} adds: a smaller young generation (see the launcher). */
    public static final List<String> HOST_FLAGS = List.of("-Xmn24m");

    private final Process process;
    private final int port;
    private final Path log;

    private HostProcess(Process process, int port, Path log) {
        this.process = process;
        this.port = port;
        this.log = log;
    }

    /**
     * The command that runs the CLI whose main class is {@code mainClass} as a host in a JVM like this one: this
     * JVM's java, the launcher's flags and its host flags, then {@code jvmFlags}, this JVM's class path.
     */
    public static List<String> launcher(String mainClass, List<String> jvmFlags) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(LAUNCHER_FLAGS);
        cmd.addAll(HOST_FLAGS);
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        return cmd;
    }

    /**
     * Starts {@code launcher host -m model --port port [more...]} (port 0: a free one; {@code launcher}
     * as {@link #launcher} makes it) and waits until it listens, at most {@code startup}.
     */
    public static HostProcess start(List<String> launcher, Path model, int port, Path log, Duration startup, String... more)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(List.of("host", "-m", model.toString(), "--port", Integer.toString(port), "--bind", "127.0.0.1"));
        cmd.addAll(List.of(more));
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        CompletableFuture<JsonNode> listening = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            // Reads to the end, so that the host never blocks on a full pipe.
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (!listening.isDone() && line.startsWith("{\"listening\"")) listening.complete(new ObjectMapper().readTree(line));
                }
            } catch (IOException e) {
                listening.completeExceptionally(e);
            }
            listening.completeExceptionally(new IllegalStateException("the host process ended its output"));
        }, "host-stdout-" + p.pid());
        reader.setDaemon(true);
        reader.start();
        try {
            JsonNode line = listening.get(startup.toMillis(), TimeUnit.MILLISECONDS);
            int bound = line.get("port").asInt();
            if (bound <= 0 || (port != 0 && bound != port)) throw new IllegalStateException("it reported port " + bound);
            return new HostProcess(p, bound, log);
        } catch (Exception e) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            String err = Files.exists(log) ? Files.readString(log).strip() : "";
            throw new IllegalStateException("host process on port " + port + " did not start within " + startup.toSeconds()
                    + " s (" + (p.isAlive() ? "still running" : "exit code " + p.exitValue()) + ")"
                    + (err.isEmpty() ? "" : "; its log " + log + " ends: " + tail(err)), e);
        }
    }

    private static String tail(String s) {
        return s.length() > 2000 ? "..." + s.substring(s.length() - 2000) : s;
    }

    public Process process() {
        return process;
    }

    public int port() {
        return port;
    }

    public String address() {
        return "127.0.0.1:" + port;
    }

    public Path log() {
        return log;
    }

    /** SIGKILL, as when the machine or the process dies (no shutdown hook runs); waits until it is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(20, TimeUnit.SECONDS)) throw new IllegalStateException("host process " + process.pid() + " did not die");
    }

    /** Kills the process (see {@link #kill}). */
    @Override
    public void close() throws InterruptedException {
        kill();
    }
}
