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
 * @param sessionTtl    a session unused this long is freed by its host
 * @param prefillChunk  the most tokens a host pushes through the model at once in phase 1
 */
public record ClusterOptions(String authToken, Path tlsCa, Path tlsCert, Path tlsKey, boolean tls, Wire wire,
                             Duration callTimeout, Duration encodeTimeout, String session, boolean reuse,
                             Duration sessionTtl, int prefillChunk) {
    public ClusterOptions {
        if (wire == null) wire = Wire.F32;
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
                Duration.ofHours(2), null, false, Duration.ofMinutes(30), 1024);
    }

    public boolean usesTls() {
        return tls || tlsCa != null || tlsCert != null;
    }

    public ClusterOptions withAuthToken(String t) {
        return new ClusterOptions(t, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk);
    }

    public ClusterOptions withTls(Path ca, Path cert, Path key) {
        return new ClusterOptions(authToken, ca, cert, key, true, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk);
    }

    public ClusterOptions withWire(Wire w) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, w, callTimeout, encodeTimeout, session, reuse, sessionTtl, prefillChunk);
    }

    public ClusterOptions withTimeouts(Duration call, Duration encode) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, call, encode, session, reuse, sessionTtl, prefillChunk);
    }

    public ClusterOptions withSession(String name, boolean reuseIt, Duration ttl) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, name, reuseIt, ttl, prefillChunk);
    }

    public ClusterOptions withPrefillChunk(int chunk) {
        return new ClusterOptions(authToken, tlsCa, tlsCert, tlsKey, tls, wire, callTimeout, encodeTimeout, session, reuse, sessionTtl, chunk);
    }
}
