package dev.starattn.cluster;

import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.SamplingOptions;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the cluster tests share: a small random model (head dim 16, kv dim 32: one Q8_0 block per
 * KV row), a 150-token context and a 9-token query, HostServer instances on loopback and clients
 * that are closed after each test, and greedy runs of 6 tokens.
 */
abstract class ClusterFixture {
    @TempDir
    static Path tmp;
    static Path modelFile;
    static int[] context, query;

    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void model() {
        modelFile = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(3)
                .write(tmp.resolve("m.gguf"));
        Random r = new Random(7);
        context = r.ints(150, 1, 300).toArray();
        query = r.ints(9, 1, 300).toArray();
    }

    @AfterEach
    void cleanup() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) toClose.get(i).close();
    }

    LoadedModel load(Path p) {
        LoadedModel m = ModelLoader.load(p);
        toClose.add(m);
        return m;
    }

    HostServer host(HostServer.Builder b) {
        HostServer s = b.start();
        toClose.add(s::shutdownNow);
        return s;
    }

    HostServer host() {
        return host(HostServer.builder(load(modelFile)).port(0));
    }

    static String addr(HostServer s) {
        return "127.0.0.1:" + s.port();
    }

    static ClusterOptions fast() {
        return ClusterOptions.defaults().withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(20));
    }

    Cluster connect(LoadedModel client, ClusterOptions o, HostServer... servers) {
        List<String> a = new ArrayList<>();
        for (HostServer s : servers) a.add(addr(s));
        Cluster c = Cluster.connect(a, client, o);
        toClose.add(c);
        return c;
    }

    static GenerationResult run(InferenceEngine e, EncodedContext ctx) {
        return e.generate(ctx, query, SamplingOptions.greedy(), 6, t -> false, t -> {});
    }

    static GenerationResult run(InferenceEngine e) {
        return run(e, e.encode(context, ProgressListener.NONE));
    }

    static float maxDiff(float[] a, float[] b) {
        float d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }
}
