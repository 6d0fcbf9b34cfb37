package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.attention.KvType;
import dev.starattn.model.DecoderModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Device pipelines on the CPU that stand in for the GPUs in tests of what drives them (the engine, the eval runner):
 * each step recomputes the logits with a dense engine of its own over the context, the query and the tokens so far
 * (slow, exact: whatever the mode, the answers are dense's). Each pipeline records the calls it gets.
 */
public final class StandInPipelines implements ContextPipeline.Factory {
    private final DecoderModel model;
    public final List<RecomputingPipeline> opened = new ArrayList<>();
    /** Makes every pipeline opened from now on fail in phase 1. */
    public boolean failInPhase1;

    public StandInPipelines(DecoderModel model) {
        this.model = model;
    }

    @Override
    public synchronized ContextPipeline open(EngineOptions options) {
        // Dense is one host on a device, as CudaPipelines does it.
        int hosts = options.hostsUsed();
        RecomputingPipeline p = new RecomputingPipeline(hosts, failInPhase1);
        opened.add(p);
        return p;
    }

    @Override
    public String describe() {
        return "the CPU, standing in for GPUs";
    }

    /** Records what the engine asks of it: "encode MODE HOSTS", "step N@POS", "reset", "close". */
    public final class RecomputingPipeline implements ContextPipeline {
        final List<ContextHost> hosts = new ArrayList<>();
        public final List<String> calls = new ArrayList<>();
        final InferenceEngine dense = new InferenceEngine(model, EngineOptions.of(AttentionMode.DENSE, 1));
        final boolean failInPhase1;
        int[] ctx;
        int[] since = new int[0];   // query and generated tokens since the last reset
        int nextPos;

        RecomputingPipeline(int hosts, boolean failInPhase1) {
            for (int h = 0; h < hosts; h++) {
                this.hosts.add(new LocalContextHost("dev-" + h, model, 64, KvType.F32, KvType.F32, null));
            }
            this.failInPhase1 = failInPhase1;
        }

        @Override
        public List<? extends ContextHost> hosts() {
            return hosts;
        }

        @Override
        public long encode(int[] context, EngineOptions options, ProgressListener progress) {
            calls.add("encode " + options.strategy().name() + " " + options.hosts());
            if (failInPhase1) throw new IllegalStateException("device lost in phase 1");
            ctx = context.clone();
            nextPos = context.length;
            for (ContextHost h : hosts) progress.blockDone(h.name(), 1, 1, context.length / hosts.size());
            return 1;
        }

        @Override
        public float[] step(int[] tokens, int pos) {
            calls.add("step " + tokens.length + "@" + pos);
            assertEquals(nextPos, pos, "steps come at consecutive positions");
            nextPos += tokens.length;
            int[] all = Arrays.copyOf(since, since.length + tokens.length);
            System.arraycopy(tokens, 0, all, since.length, tokens.length);
            since = all;
            EncodedContext c = dense.encode(ctx, ProgressListener.NONE);
            return dense.generate(c, since, SamplingOptions.greedy(), 0, t -> false, t -> {}).firstLogits();
        }

        @Override
        public String layout() {
            return hosts.size() + " hosts on the CPU";
        }

        @Override
        public void reset() {
            calls.add("reset");
            since = new int[0];
            nextPos = ctx == null ? 0 : ctx.length;
        }

        @Override
        public void close() {
            calls.add("close");
        }
    }
}
