package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.AttentionMode;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Random;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS and mutual TLS with a self-signed certificate made here (for 127.0.0.1 and localhost). */
class TlsTest {
    @TempDir
    Path tmp;

    Path[] selfSigned(String name) throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(256);
        KeyPair kp = g.generateKeyPair();
        X500Name dn = new X500Name("CN=" + name);
        long now = System.currentTimeMillis();
        var b = new JcaX509v3CertificateBuilder(dn, BigInteger.valueOf(now), new Date(now - 60_000), new Date(now + 86_400_000L), dn, kp.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
                new GeneralName(GeneralName.iPAddress, "127.0.0.1"), new GeneralName(GeneralName.dNSName, "localhost")}));
        X509Certificate cert = new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())));
        Path c = tmp.resolve(name + ".crt"), k = tmp.resolve(name + ".key");
        Files.writeString(c, pem("CERTIFICATE", cert.getEncoded()), StandardCharsets.US_ASCII);
        Files.writeString(k, pem("PRIVATE KEY", kp.getPrivate().getEncoded()), StandardCharsets.US_ASCII);
        return new Path[] {c, k};
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    @Test
    void mutualTlsWorksAndPlaintextOrStrangersAreRefused() throws Exception {
        Path file = new RandomLlamaModel().dim(32).layers(1).heads(2).kvHeads(1).ffnDim(64).vocab(300).seed(5)
                .write(tmp.resolve("m.gguf"));
        Path[] server = selfSigned("host"), client = selfSigned("client"), stranger = selfSigned("stranger");
        int[] context = new Random(1).ints(60, 1, 300).toArray(), query = {5, 6, 7};
        try (LoadedModel m = ModelLoader.load(file); LoadedModel hm = ModelLoader.load(file);
             HostServer s = HostServer.builder(hm).port(0).tls(server[0], server[1], client[0]).authToken("t").start()) {
            String addr = "127.0.0.1:" + s.port();
            // Refusals fail at once: the deadline only bounds the handshakes that succeed (slow on a loaded machine).
            ClusterOptions base = ClusterOptions.defaults().withTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(20)).withAuthToken("t");
            try (Cluster c = Cluster.connect(List.of(addr), m, base.withTls(server[0], client[0], client[1]))) {
                EngineOptions o = EngineOptions.of(AttentionMode.STAR, 2);
                var e = new InferenceEngine(m.model(), o, c.hosts());
                int[] got = e.generate(e.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {}).tokens();
                var ref = new InferenceEngine(m.model(), o);
                assertArrayEquals(ref.generate(ref.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {}).tokens(), got);
            }
            IllegalStateException plain = assertThrows(IllegalStateException.class, () -> Cluster.connect(List.of(addr), m, base));
            assertTrue(plain.getMessage().contains("context host " + addr + " failed"), plain.getMessage());
            IllegalStateException noCert = assertThrows(IllegalStateException.class,
                    () -> Cluster.connect(List.of(addr), m, base.withTls(server[0], stranger[0], stranger[1])));
            assertTrue(noCert.getMessage().contains("context host " + addr + " failed"), noCert.getMessage());
        }
    }

    /**
     * A plaintext client, or one that does not trust the host's certificate, fails at once naming
     * the host; the host logs one line per failed handshake, and nothing reaches the console.
     */
    @Test
    void failedHandshakesFailFastAndLogOneLineOnTheHost() throws Exception {
        Path file = new RandomLlamaModel().dim(32).layers(1).heads(2).kvHeads(1).ffnDim(64).vocab(300).seed(5)
                .write(tmp.resolve("m.gguf"));
        Path[] server = selfSigned("host"), stranger = selfSigned("stranger");
        java.util.List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (JulCapture console = new JulCapture(); LoadedModel m = ModelLoader.load(file); LoadedModel hm = ModelLoader.load(file);
             HostServer s = HostServer.builder(hm).port(0).tls(server[0], server[1], null).log(log::add).start()) {
            String addr = "127.0.0.1:" + s.port();
            ClusterOptions base = ClusterOptions.defaults().withTimeouts(Duration.ofSeconds(30), Duration.ofSeconds(30));
            for (ClusterOptions o : List.of(base, base.withTls(stranger[0], null, null))) {
                long t0 = System.nanoTime();
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> Cluster.connect(List.of(addr), m, o).close());
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(e.getMessage().startsWith("context host " + addr + " failed: "), e.getMessage());
                assertTrue(ms < 5000, "failed after " + ms + " ms, not at once");
                if (o.usesTls()) assertTrue(e.getMessage().contains("TLS handshake failed"), e.getMessage());
            }
            long w = System.nanoTime();
            while (log.size() < 2 && System.nanoTime() - w < 5_000_000_000L) Thread.sleep(20);
            String line = "TLS handshake with a client failed: it does not speak TLS (no --tls), does not trust this host's certificate (its --tls-ca)";
            assertTrue(log.size() >= 2 && log.stream().allMatch(line::equals), "one line per failed handshake: " + log);
            assertTrue(console.records.isEmpty(), console.summary());
        }
    }

    /** Ring hosts dial each other with their own certificate and token: mutual TLS between hosts too. */
    @Test
    void ringHostsPassKvOverMutualTls() throws Exception {
        Path file = new RandomLlamaModel().dim(32).layers(2).heads(2).kvHeads(1).ffnDim(64).vocab(300).seed(5)
                .write(tmp.resolve("m.gguf"));
        Path[] server = selfSigned("host"), client = selfSigned("client");
        // The hosts accept clients signed by either certificate: the client's, and the hosts' own (for peers).
        Path ca = tmp.resolve("ca.pem");
        Files.writeString(ca, Files.readString(client[0]) + Files.readString(server[0]), StandardCharsets.US_ASCII);
        int[] context = new Random(1).ints(60, 1, 300).toArray(), query = {5, 6, 7};
        try (LoadedModel m = ModelLoader.load(file); LoadedModel h1 = ModelLoader.load(file); LoadedModel h2 = ModelLoader.load(file);
             HostServer s1 = HostServer.builder(h1).port(0).tls(server[0], server[1], ca).authToken("t").start();
             HostServer s2 = HostServer.builder(h2).port(0).tls(server[0], server[1], ca).authToken("t").start()) {
            ClusterOptions o = ClusterOptions.defaults().withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(20)).withAuthToken("t")
                    .withTls(server[0], client[0], client[1]);
            try (Cluster c = Cluster.connect(List.of("127.0.0.1:" + s1.port(), "127.0.0.1:" + s2.port()), m, o)) {
                var e = new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.RING_ZIGZAG, 2), c.hosts());
                int[] got = e.generate(e.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {}).tokens();
                var ref = new InferenceEngine(m.model(), EngineOptions.of(AttentionMode.DENSE, 1));
                assertArrayEquals(ref.generate(ref.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {}).tokens(), got);
            }
        }
    }
}
