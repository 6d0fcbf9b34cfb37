package dev.starattn.cluster;

import dev.starattn.cluster.proto.Wire;
import java.nio.file.Path;
import java.time.Duration;

/**
 * How a query host talks to its remote context hosts.
 *
 * @param authToken     bearer token sent with every call (null: none)
 * @param tlsCa         trust these CA certificates (PEM) and use TLS (null: plaintext, unless {@code tls})
 * @param tlsCert       client certificate chain (PEM) for hosts that require mutual TLS (null: none)
 * @param tlsKey        the client certificate's PKCS#8 PEM private key
 * @param tls           use TLS with the JVM's default trust store when {@code tlsCa} is null
 * @param wire          number format of phase-2 queries and partial outputs (lse always f32)
 * @param callTimeout   deadline of every short call (health checks, phase-2 attention, release)
 * @param encodeTimeout deadline of one host's whole phase 1
 * @param session       session name on every host (null: a fresh id per context, released after use)
 * @param reuse         the named session must already exist on every host: phase 1 is not run there
 * @param sessionTtl    a session unused this long is freed by its host (a host keeps none longer than its own {@code --session-ttl})
 * @param prefillChunk  the most tokens a host pushes through the model at once in phase 1
 * @param phase2        how phase-2 requests travel: one long-lived stream per host (default) or one call each
 */
public record ClusterOptions(String authToken, Path tlsCa, Path tlsCert, Path tlsKey, boolean tls, Wire wire,
                             Duration callTimeout, Duration encodeTimeout, String session, boolean reuse,
                             Duration sessionTtl, int prefillChunk, Phase2Rpc phase2) {
    /** How phase-2 requests travel to a host. */
    public enum Phase2Rpc {
        /** {@code AttendStream}: one bidirectional stream per host, opened once and used for every layer and token. */
        STREAM,
        /** {@code Attend}: one unary call per host and layer (what clients did before the stream). */
        UNARY;

        public static Phase2Rpc parse(String s) {
            return switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "stream" -> STREAM;
                case "unary" -> UNARY;
                default -> throw new IllegalArgumentException("the phase-2 RPC is stream or unary, got " + s);
            };
        }

        public String cliName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** As the canonical constructor, phase 2 over a stream. */
    public ClusterOptions(String authToken, Path tlsCa, Path tlsCert, Path tlsKey, boolean tls, Wire wire,
                          Duration callTimeout, Duration encodeTimeout, String session, boolean reuse,
                          Duration sessionTtl, int prefillChunk) {
        this(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk,
                Phase2Rpc.STREAM);
    }

    public ClusterOptions {
        if (wire == null) wire = Wire.F32;
        if (phase2 == null) phase2 = Phase2Rpc.STREAM;
        if (callTimeout == null || callTimeout.isNegative() || callTimeout.isZero()) {
            throw new IllegalArgumentException("the call timeout must be positive");
        }
        if (encodeTimeout == null || encodeTimeout.isNegative() || encodeTimeout.isZero()) {
            throw new IllegalArgumentException("the phase-1 timeout must be positive");
        }
        if (sessionTtl == null || sessionTtl.isNegative() || sessionTtl.isZero()) {
            throw new IllegalArgumentException("the session time to live must be positive");
        }
        if (reuse && (session == null || session.isBlank())) {
            throw new IllegalArgumentException("--reuse needs --session NAME: the session to reuse");
        }
        if (prefillChunk < 1) throw new IllegalArgumentException("the prefill chunk must be positive");
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new IllegalArgumentException("a client certificate needs both --tls-cert and --tls-key");
        }
    }

    public static ClusterOptions defaults() {
        return new ClusterOptions(null, null, null, null, false, Wire.F32, Duration.ofSeconds(60),
                Duration.ofHours(2), null, false, Duration.ofMinutes(10), 1024);
    }

    public boolean usesTls() {
        return tls || tlsCa != null || tlsCert != null;
    }

    public ClusterOptions withAuthToken(String t) {
        return new ClusterOptions(t, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk, phase2);
    }

    public ClusterOptions withTls(Path ca, Path cert, Path key) {
        return new ClusterOptions(authToken, ca, cert, key, true, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk, phase2);
    }

    public ClusterOptions withWire(Wire w) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, w, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk, phase2);
    }

    public ClusterOptions withTimeouts(Duration call, Duration encode) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, call, encode, session, reuse, sessionTtl, prefillChunk, phase2);
    }

    public ClusterOptions withSession(String name, boolean reuseIt, Duration ttl) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, name, reuseIt, ttl, prefillChunk, phase2);
    }

    public ClusterOptions withPrefillChunk(int chunk) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, chunk, phase2);
    }

    public ClusterOptions withPhase2(Phase2Rpc p) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk, p);
    }
}
