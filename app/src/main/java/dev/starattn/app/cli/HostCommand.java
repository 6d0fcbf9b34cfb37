package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.cluster.BearerAuth;
import dev.starattn.cluster.HostServer;
import dev.starattn.model.LoadedModel;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code starattn host}: a remote context host, serving its share of contexts over gRPC. */
@Command(name = "host", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve as a remote context host: encode the blocks a query host sends (phase 1) and answer its attention calls (phase 2).")
public final class HostCommand implements Callable<Integer> {
    @Mixin ModelOption model;

    @Option(names = "--port", required = true, description = "Port to listen on (0: a free port, chosen by the system; the port bound is printed on stdout).")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for all).")
    String bind;

    @Option(names = "--auth-token-file", description = "File holding the bearer token every caller must send.")
    Path tokenFile;

    @Option(names = "--tls-cert", description = "PEM certificate chain: serve TLS.")
    Path tlsCert;

    @Option(names = "--tls-key", description = "PKCS#8 PEM private key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--tls-ca", description = "PEM CA certificate(s): require callers to present a certificate they signed (mutual TLS).")
    Path tlsCa;

    @Option(names = "--memory-budget", defaultValue = "0", description = "Most bytes of KV all sessions may hold (suffixes k, m, g; 0 = unlimited).")
    String memoryBudget;

    @Option(names = "--session-ttl", defaultValue = "600",
            description = "Most seconds an unused session is kept: a client may ask for less, never more (default: ${DEFAULT-VALUE}).")
    double sessionTtl;

    @Option(names = "--session-grace", defaultValue = "30",
            description = "Seconds a session is kept after the phase-2 stream using it broke (its client died or lost the connection), unless used again (default: ${DEFAULT-VALUE}).")
    double sessionGrace;

    @picocli.CommandLine.Mixin
    BlockCacheMixin cache;

    @Override
    public Integer call() throws Exception {
        if (!(sessionTtl > 0 && sessionTtl < 1e12)) throw new UsageException("--session-ttl takes a positive number of seconds, got " + sessionTtl);
        if (!(sessionGrace >= 0 && sessionGrace < 1e12)) throw new UsageException("--session-grace takes 0 or more seconds, got " + sessionGrace);
        if (port < 0 || port > 65535) throw new UsageException("--port takes 0 (any free port) to 65535, got " + port);
        long budget = UsageException.check(() -> parseBytes(memoryBudget));
        String token = tokenFile == null ? null : BearerAuth.readTokenFile(tokenFile);
        if (tlsCa != null && tlsCert == null) throw new UsageException("--tls-ca needs --tls-cert and --tls-key");
        try (LoadedModel m = ModelCli.load(model.path(), true)) {
            HostServer s = HostServer.builder(m).blockCache(cache.create(m, w -> System.err.println("warning: " + w))).bind(bind).port(port).authToken(token).tls(tlsCert, tlsKey, tlsCa)
                    .memoryBudget(budget).defaultTtl(Duration.ofMillis(Math.max(1, Math.round(sessionTtl * 1000))))
                    .streamGrace(Duration.ofMillis(Math.round(sessionGrace * 1000)))
                    .log(msg -> System.err.println(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " " + msg))
                    .start();
            Runtime.getRuntime().addShutdownHook(new Thread(s::close, "host-shutdown"));
            System.err.printf("context host listening on %s:%d (%s%s), model %s, fingerprint %s, memory budget %s%n",
                    bind, s.port(), tlsCert != null ? "TLS" : "plaintext", token != null ? ", bearer token" : "",
                    m.path().getFileName(), s.fingerprint(), budget == 0 ? "unlimited" : budget + " bytes");
            // After each session's phase 1 the host logs this line again, its KV and block working set counted.
            System.err.println(s.memoryLine());
            // One machine-readable line on stdout (logs go to stderr): what a script or a test that
            // started this host with --port 0 reads to learn where it listens.
            System.out.println(listeningLine(bind, s.port(), s.fingerprint()));
            System.out.flush();
            if (token == null && !isLoopback(bind)) {
                System.err.println("warning: listening beyond this machine without --auth-token-file: anyone who can reach the port can use this host");
            }
            s.awaitTermination();
        }
        return 0;
    }

    /**
     * {@code {"listening":"HOST:PORT","port":PORT,"fingerprint":"..."}}: the address a client
     * passes to {@code --host-addrs} (IPv6 in brackets) once the server is bound.
     */
    static String listeningLine(String bind, int port, String fingerprint) {
        String host = bind.contains(":") && !bind.startsWith("[") ? "[" + bind + "]" : bind;
        var json = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        json.put("listening", host + ":" + port).put("port", port).put("fingerprint", fingerprint);
        return json.toString();
    }

    static boolean isLoopback(String addr) {
        return addr.equals("localhost") || addr.startsWith("127.") || addr.equals("::1");
    }

    static long parseBytes(String s) {
        String t = s.strip().toLowerCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("b")) t = t.substring(0, t.length() - 1);
        if (t.endsWith("k")) mult = 1L << 10;
        else if (t.endsWith("m")) mult = 1L << 20;
        else if (t.endsWith("g")) mult = 1L << 30;
        else if (t.endsWith("t")) mult = 1L << 40;
        if (mult > 1) t = t.substring(0, t.length() - 1);
        try {
            double v = Double.parseDouble(t);
            if (v < 0 || Double.isNaN(v) || v * mult > Long.MAX_VALUE) throw new NumberFormatException();
            return (long) (v * mult);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--memory-budget takes a byte count such as 8000000000 or 8g, got " + s);
        }
    }
}
