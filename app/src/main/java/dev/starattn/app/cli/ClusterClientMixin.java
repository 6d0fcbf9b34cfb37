package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.cluster.BearerAuth;
import dev.starattn.cluster.ClusterOptions;
import dev.starattn.cluster.proto.Wire;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** How generate talks to remote context hosts (--host-addrs). */
public final class ClusterClientMixin {
    @Option(names = "--auth-token-file", description = "File holding the bearer token the hosts require.")
    Path tokenFile;

    @Option(names = "--tls", description = "Talk TLS to the hosts, trusting the JVM's CAs (or --tls-ca).")
    boolean tls;

    @Option(names = "--tls-ca", description = "PEM CA certificate(s) to trust for the hosts (implies --tls).")
    Path tlsCa;

    @Option(names = "--tls-cert", description = "PEM client certificate chain, for hosts that require mutual TLS.")
    Path tlsCert;

    @Option(names = "--tls-key", description = "PKCS#8 PEM key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--wire", defaultValue = "f32", description = "Phase-2 number format on the network: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String wire;

    @Option(names = "--phase2-rpc", defaultValue = "stream",
            description = "How phase-2 queries travel to each host: stream (one long-lived stream per host) or unary (one call per layer) (default: ${DEFAULT-VALUE}).")
    String phase2Rpc;

    @Option(names = "--call-timeout", defaultValue = "60", description = "Deadline in seconds of each health check and phase-2 call (default: ${DEFAULT-VALUE}).")
    double callTimeout;

    @Option(names = "--phase1-timeout", defaultValue = "7200", description = "Deadline in seconds of a host's phase 1 (default: ${DEFAULT-VALUE}).")
    double phase1Timeout;

    @Option(names = "--session", description = "Name the encoded context on the hosts and keep it there for later queries.")
    String session;

    @Option(names = "--reuse", description = "Ask against the existing --session: the hosts do not encode again (this process re-encodes its own last blocks).")
    boolean reuse;

    @Option(names = "--session-ttl", defaultValue = "1800", description = "Seconds a session may stay unused before its hosts free it (default: ${DEFAULT-VALUE}).")
    double sessionTtl;

    @Option(names = "--release", description = "Free the --session on the hosts after this query.")
    boolean release;

    boolean releaseAtEnd() {
        return release;
    }

    ClusterOptions options(int prefillChunk) {
        Wire w = switch (wire.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> Wire.F32;
            case "bf16" -> Wire.BF16;
            default -> throw new UsageException("--wire takes f32 or bf16, got " + wire);
        };
        // Written so that NaN fails too; the upper bound keeps the milliseconds within a long.
        for (double v : new double[] {callTimeout, phase1Timeout, sessionTtl}) {
            if (!(v > 0 && v < 1e12)) throw new UsageException("--call-timeout, --phase1-timeout and --session-ttl take a positive number of seconds, got " + v);
        }
        if (release && session == null) throw new UsageException("--release needs --session NAME");
        String token = tokenFile == null ? null : BearerAuth.readTokenFile(tokenFile);
        return new ClusterOptions(token, tlsCa, tlsCert, tlsKey, tls, w, seconds(callTimeout), seconds(phase1Timeout),
                session, reuse, seconds(sessionTtl), prefillChunk, ClusterOptions.Phase2Rpc.parse(phase2Rpc));
    }

    /** Options that only make sense with --host-addrs, given without it: an error a person can act on. */
    void checkUnused() {
        if (session != null || reuse || release || tokenFile != null || tls || tlsCa != null || tlsCert != null || !"f32".equals(wire)
                || !"stream".equals(phase2Rpc)) {
            throw new UsageException("--session, --reuse, --release, --auth-token-file, --tls*, --wire and --phase2-rpc apply to remote hosts; add --host-addrs");
        }
    }

    private static Duration seconds(double s) {
        return Duration.ofMillis(Math.max(1, Math.round(s * 1000)));
    }
}
