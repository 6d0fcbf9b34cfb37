package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.GenerationResult;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.model.LoadedModel;
import org.junit.jupiter.api.Test;

/** Star-pass over context hosts that send each other their passing rows per layer (HostServer instances on loopback). */
class StarPassClusterTest extends ClusterFixture {
    private static final int K = 4;

    @Test
    void remoteHostsGiveTheInProcessTokensAndCountTheRowsOnTheWire() {
        LoadedModel client = load(modelFile);
        EngineOptions o = EngineOptions.of(Strategies.STAR_PASS.withPassTokens(K), 3);
        GenerationResult local = run(new InferenceEngine(client.model(), o));
        HostServer s1 = host(), s2 = host(), s3 = host();
        Cluster c = connect(client, fast(), s1, s2, s3);
        InferenceEngine e = new InferenceEngine(client.model(), o, c.hosts());
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        GenerationResult remote = run(e, ctx);
        assertArrayEquals(local.tokens(), remote.tokens(), "star-pass over the network against in-process");
        float d = maxDiff(local.firstLogits(), remote.firstLogits());
        assertTrue(d < 1e-4f, "logits differ by " + d);
        assertEquals(0, ctx.queryHost().kvTokens(), "the remote hosts hold the whole context");
        HostStats[] st = c.hosts().stream().map(RemoteContextHost::stats).toArray(HostStats[]::new);
        // Per layer host 0 sends its K rows (f32 keys and values) to hosts 1 and 2, host 1 to host 2.
        int layers = client.config().layers(), kvDim = client.config().kvHeads() * client.config().headDim();
        long rowBytes = (long) K * kvDim * 2 * Float.BYTES;
        assertTrue(st[0].phase1BytesSent - st[2].phase1BytesSent >= layers * 2 * rowBytes, "host 0 sends its rows twice a layer");
        assertTrue(st[1].phase1BytesSent - st[2].phase1BytesSent >= layers * rowBytes, "host 1 sends its rows once a layer");
        assertTrue(st[2].phase1BytesReceived - st[0].phase1BytesReceived >= layers * 2 * rowBytes, "host 2 receives both");
        assertEquals(0, st[0].phase1WaitNanos, "the first host waits for nobody");
        long[] predicted = dev.starattn.engine.FlopModel.phase1PerHost(client.config(), context.length, o);
        for (int h = 0; h < 3; h++) assertEquals(predicted[h], st[h].phase1Flops(), "host " + h + " FLOPs");
        ctx.release();
        assertEquals(0, s1.sessions() + s2.sessions() + s3.sessions());
    }

    @Test
    void passingNothingOverTheNetworkIsStar() {
        LoadedModel client = load(modelFile);
        GenerationResult star = run(new InferenceEngine(client.model(), EngineOptions.of(Strategies.STAR, 3).withAnchorSize(20)));
        HostServer s1 = host(), s2 = host(), s3 = host();
        Cluster c = connect(client, fast(), s1, s2, s3);
        EngineOptions none = EngineOptions.of(Strategies.STAR_PASS.withPassTokens(0), 3).withAnchorSize(20);
        assertArrayEquals(star.tokens(), run(new InferenceEngine(client.model(), none, c.hosts())).tokens());
    }
}
