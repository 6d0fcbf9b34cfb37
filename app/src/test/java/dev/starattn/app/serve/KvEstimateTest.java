package dev.starattn.app.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.attention.KvType;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.model.RandomLlamaModel;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server's KV reservation for a document is exactly what encoding it takes, whatever the K and V types. */
class KvEstimateTest {
    @TempDir
    Path tmp;

    @Test
    void estimateIsTheEncodedKvBytesForEveryKeyAndValueType() {
        // kv_dim 32: one Q8_0 block (32 bytes + a 2-byte scale) per row.
        Path file = new RandomLlamaModel().dim(64).layers(2).heads(4).kvHeads(2).ffnDim(128).vocab(300).seed(3)
                .write(tmp.resolve("m.gguf"));
        int[] context = new Random(1).ints(70, 1, 300).toArray();
        try (LoadedModel m = ModelLoader.load(file)) {
            for (KvType[] kv : new KvType[][] {{KvType.F32, KvType.F32}, {KvType.F16, KvType.F16}, {KvType.Q8_0, KvType.Q8_0},
                    {KvType.Q8_0, KvType.F16}, {KvType.F32, KvType.Q8_0}}) {
                EngineOptions o = EngineOptions.dense().withKvTypes(kv[0], kv[1]);
                EncodedContext enc = new InferenceEngine(m.model(), o).encode(context, ProgressListener.NONE);
                long actual = 0;
                for (ContextHost h : enc.hosts()) actual += h.kvBytes();
                String what = kv[0].cliName() + "/" + kv[1].cliName();
                assertEquals(actual, StarServer.kvEstimate(m.config(), o, context.length), what);
                assertEquals(2L * 70 * (kv[0].rowBytes(32) + kv[1].rowBytes(32)), actual, what + ": bytes of the types");
            }
        }
    }
}
