package dev.starattn.cluster;

import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Ring phase 1: channels to peers, by address, dialed with this host's own security settings (TLS or plain, bearer token). */
final class PeerChannels {
    private final Path tlsCert, tlsKey, tlsCa;
    private final String authToken;
    private final Map<String, ManagedChannel> peers = new ConcurrentHashMap<>();
    private volatile boolean stopped;

    PeerChannels(Path tlsCert, Path tlsKey, Path tlsCa, String authToken) {
        this.tlsCert = tlsCert;
        this.tlsKey = tlsKey;
        this.tlsCa = tlsCa;
        this.authToken = authToken;
    }

    private static List<java.security.cert.X509Certificate> certificates(Path pem)
            throws IOException, java.security.cert.CertificateException {
        try (var in = java.nio.file.Files.newInputStream(pem)) {
            List<java.security.cert.X509Certificate> out = new ArrayList<>();
            for (var c : java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                out.add((java.security.cert.X509Certificate) c);
            }
            return out;
        }
    }

    /** A channel to a ring peer, with the security settings this host serves with. */
    ManagedChannel channel(String addr) {
        if (stopped) throw new CancellationException("the host is shutting down");
        ManagedChannel ch = peers.computeIfAbsent(addr, a -> {
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || colon == a.length() - 1) throw new IllegalArgumentException("ring peer address '" + a + "' is not host:port");
            String host = a.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
            int p;
            try {
                p = Integer.parseInt(a.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("ring peer address '" + a + "' has no valid port");
            }
            NettyChannelBuilder cb = NettyChannelBuilder.forAddress(host, p)
                    .maxInboundMessageSize(HostServer.MAX_MESSAGE_BYTES)
                    .keepAliveTime(30, TimeUnit.SECONDS)
                    .keepAliveTimeout(10, TimeUnit.SECONDS);
            if (tlsCert != null) {
                try {
                    // Peers are trusted when their certificate is in this host's own chain (hosts
                    // sharing a certificate or its issuer) or signed by --tls-ca.
                    List<java.security.cert.X509Certificate> trust = new ArrayList<>(certificates(tlsCert));
                    if (tlsCa != null) trust.addAll(certificates(tlsCa));
                    SslContextBuilder ssl = GrpcSslContexts.forClient().keyManager(tlsCert.toFile(), tlsKey.toFile())
                            .trustManager(trust.toArray(new java.security.cert.X509Certificate[0]));
                    cb.sslContext(ssl.build()).useTransportSecurity();
                } catch (IOException | IllegalArgumentException | java.security.cert.CertificateException e) {
                    throw new IllegalArgumentException("cannot set up TLS to ring peer " + a + ": " + e.getMessage(), e);
                }
            } else {
                cb.usePlaintext();
            }
            if (authToken != null) cb.intercept(BearerAuth.client(authToken));
            return cb.build();
        });
        return ch;
    }

    /**
     * Before a ring run: a peer channel that failed before (the peer was down and may have
     * restarted) is made to connect now rather than after its back-off, and this waits (at most
     * {@code timeoutMs}) until it is connected or has failed again, so that the first block is not
     * refused with a stale failure, and a dead peer still fails fast.
     */
    void connect(String addr, long timeoutMs) throws InterruptedException {
        channel(addr);
        ManagedChannel ch = peers.get(addr);
        if (ch == null) return;
        ConnectivityState st = ch.getState(true);
        if (st == ConnectivityState.READY) return;
        if (st == ConnectivityState.TRANSIENT_FAILURE) ch.resetConnectBackoff();
        boolean tried = false;
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (st != ConnectivityState.READY && st != ConnectivityState.SHUTDOWN) {
            if (st == ConnectivityState.CONNECTING) tried = true;
            else if (st == ConnectivityState.TRANSIENT_FAILURE && tried) return;
            long left = end - System.nanoTime();
            if (left <= 0) return;
            java.util.concurrent.CountDownLatch changed = new java.util.concurrent.CountDownLatch(1);
            ch.notifyWhenStateChanged(st, changed::countDown);
            changed.await(left, TimeUnit.NANOSECONDS);
            st = ch.getState(true);
        }
    }

    /** The host stops: no new channels, and the open ones close at once. */
    void stop() {
        stopped = true;
        for (ManagedChannel ch : peers.values()) ch.shutdownNow();
        peers.clear();
    }
}
