package dev.starattn.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine over device pipelines ({@link InferenceEngine#withPipelines}), with pipelines on the CPU that stand in for
 * the GPUs ({@link StandInPipelines}: each step recomputes the logits with a dense engine of its own, slow and exact). The engine must drive it as it drives its own hosts: the same greedy tokens as dense, the
 * query's KV dropped after each generation (reset), the KV freed on release or when phase 1 fails (close).
 */
class ContextPipelineTest {
    @TempDir
    static Path tmp;
    static LoadedModel model;
    static int[] context;

    @BeforeAll
    static void load() {
        Path file = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(5)
                .contextLength(2048).write(tmp.resolve("m.gguf"));
        model = ModelLoader.load(file);
        context = new Random(3).ints(300, 1, 300).toArray();
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void theEngineDecodesThroughThePipelineAsThroughItsOwnHosts() {
        int[] query = {5, 17, 200, 42};
        InferenceEngine dense = new InferenceEngine(model.model(), EngineOptions.of(AttentionMode.DENSE, 1));
        GenerationResult want = dense.generate(dense.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 6, t -> false, t -> {});

        StandInPipelines f = new StandInPipelines(model.model());
        InferenceEngine e = new InferenceEngine(model.model(), EngineOptions.of(AttentionMode.STAR, 3)).withPipelines(f);
        List<String> progress = new ArrayList<>();
        EncodedContext ctx = e.encode(context, (host, done, total, n) -> progress.add(host));
        assertEquals(List.of("dev-0", "dev-1", "dev-2"), progress);
        assertEquals(3, ctx.hosts().size());
        assertSame(ctx.hosts().getLast(), ctx.queryHost(), "the pipeline's last host is the query host");
        assertEquals("3 hosts on the CPU", ctx.placement());
        List<Integer> streamed = new ArrayList<>();
        GenerationResult got = e.generate(ctx, query, SamplingOptions.greedy(), 6, t -> false, streamed::add);
        assertArrayEquals(want.tokens(), got.tokens(), "the pipeline's tokens are dense's (it recomputes exactly)");
        assertArrayEquals(want.firstLogits(), got.firstLogits());
        assertEquals(Arrays.stream(got.tokens()).boxed().toList(), streamed);
        StandInPipelines.RecomputingPipeline p = f.opened.getFirst();
        assertEquals(List.of("encode star 3", "step 4@300", "step 1@304", "step 1@305", "step 1@306", "step 1@307", "step 1@308", "reset"), p.calls);
        assertTrue(got.hosts().getLast().phase2Nanos > 0, "the query host's phase-2 time");

        // The context serves a second query (reset dropped the first one's tokens), then release frees it.
        GenerationResult again = e.generate(ctx, query, SamplingOptions.greedy(), 6, t -> false, t -> {});
        assertArrayEquals(want.tokens(), again.tokens());
        ctx.release();
        assertEquals("close", p.calls.getLast());
        assertEquals(1, f.opened.size(), "one pipeline per encoded context");
    }

    @Test
    void aFailedPhase1ClosesItsPipeline() {
        StandInPipelines f = new StandInPipelines(model.model());
        f.failInPhase1 = true;
        InferenceEngine e = new InferenceEngine(model.model(), EngineOptions.of(AttentionMode.RING, 2)).withPipelines(f);
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> e.encode(context, ProgressListener.NONE));
        assertEquals("device lost in phase 1", x.getMessage());
        assertEquals(List.of("encode ring 2", "close"), f.opened.getFirst().calls);
    }

    @Test
    void denseRunsOnOnePipelineHost() {
        int[] query = {5, 17, 200, 42};
        InferenceEngine cpu = new InferenceEngine(model.model(), EngineOptions.of(AttentionMode.DENSE, 1));
        GenerationResult want = cpu.generate(cpu.encode(context, ProgressListener.NONE), query, SamplingOptions.greedy(), 4, t -> false, t -> {});
        StandInPipelines f = new StandInPipelines(model.model());
        InferenceEngine e = cpu.withPipelines(f);
        EncodedContext ctx = e.encode(context, ProgressListener.NONE);
        GenerationResult got = e.generate(ctx, query, SamplingOptions.greedy(), 4, t -> false, t -> {});
        assertArrayEquals(want.tokens(), got.tokens());
        assertEquals("encode dense 1", f.opened.getFirst().calls.getFirst(), "dense asks the device for one host");
        assertEquals(1, ctx.hosts().size());
        ctx.release();
    }
}
