package dev.starattn.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.starattn.attention.KvType;
import dev.starattn.engine.strategy.Strategies;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.ContextHost;
import dev.starattn.engine.EncodedContext;
import dev.starattn.engine.EngineOptions;
import dev.starattn.engine.FlopModel;
import dev.starattn.engine.HostStats;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.ProgressListener;
import dev.starattn.model.LoadedModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Star phase 1 with the block cache: no cache, cold (empty cache: encode and store), warm in
 * memory, warm from disk (a new cache over the same directory, as after a restart), and an edited
 * context (one block changed, the others cached). Wall time and the critical path beside the
 * measured FLOPs of the critical host and the FLOP model's prediction given which blocks hit.
 */
@Command(name = "cache", mixinStandardHelpOptions = true,
        description = "Star phase 1 cold vs warm (memory, disk) vs edited context with the block cache.")
public final class CacheBench implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "Model file (default: a random model, see --random).")
    Path model;

    @Option(names = "--random", defaultValue = "tiny", description = "Random model shape when no -m: 125m or tiny (default: ${DEFAULT-VALUE}).")
    String random;

    @Option(names = "--weights", defaultValue = "q8_0", description = "Weight type of the random model.")
    String weights;

    @Option(names = "--context", defaultValue = "4k", description = "Context length, e.g. 4k.")
    String context;

    @Option(names = "--hosts", defaultValue = "4", description = "In-process hosts.")
    int hosts;

    @Option(names = "--block-size", defaultValue = "0", description = "Star block size; 0 = context / hosts.")
    int blockSize;

    @Option(names = "--anchor-size", defaultValue = "-1", description = "Star anchor size; -1 = block size.")
    int anchorSize;

    @Option(names = "--kv-type", defaultValue = "f32", description = "KV type of keys and values: f32, f16 or q8_0.")
    String kvType;

    @Option(names = "--edit-block", defaultValue = "-1", description = "Block changed in the edited context; -1 = the middle one.")
    int editBlock;

    @Option(names = "--cache-dir", description = "Directory for the block files (default: a temporary directory, removed afterwards).")
    Path cacheDir;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed repeats (median reported).")
    int repeats;

    @Option(names = "--json", description = "Write all rows as JSON to this file.")
    Path json;

    record Row(String run, double wallMs, double critMs, int hits, int misses, double critGflopMeasured,
               double critGflopPredicted, double totalGflopMeasured, double totalGflopPredicted, double speedupVsNoCache) {}

    @Override
    public Integer call() throws Exception {
        int length = dev.starattn.cli.UsageException.check(() -> Stats.parseSize(context));
        dev.starattn.cli.UsageException.check(() -> EngineOptions.of(Strategies.STAR, hosts)
                .withBlockSize(blockSize).withAnchorSize(anchorSize).requireSplit(length));
        Path base = cacheDir != null ? cacheDir : Files.createTempDirectory("starattn-cache-bench");
        try (LoadedModel m = BenchModels.load(model, random, weights)) {
            int n = Stats.parseSize(context);
            KvType kt = KvType.parse(kvType);
            EngineOptions o = EngineOptions.of(Strategies.STAR, hosts).withBlockSize(blockSize).withAnchorSize(anchorSize).withKvType(kt);
            int[] ctx = new Random(n).ints(n, 3, m.config().vocabSize()).toArray();
            int b = o.effectiveBlockSize(n), blocks = (n + b - 1) / b;
            int edit = editBlock >= 0 ? editBlock : blocks / 2;
            if (edit >= blocks) throw new IllegalArgumentException("--edit-block " + edit + " but the context has " + blocks + " blocks");
            System.out.printf("model %s (%s), N=%d, H=%d, %d blocks of %d, anchor %d, kv %s, %d threads; edited context: block %d changed%n",
                    m.path().getFileName(), m.config(), n, hosts, blocks, b, o.effectiveAnchorSize(n), kt.cliName(),
                    dev.starattn.cpu.Parallel.threads(), edit);
            InferenceEngine plain = new InferenceEngine(m.model(), o);
            plain.encode(ctx, ProgressListener.NONE).release(); // warm-up: one full untimed encode
            List<Row> rows = new ArrayList<>();
            String fp = m.fingerprint();
            double noCache = measure(rows, "no cache", plain, m, o, r -> ctx, r -> null, Double.NaN);
            // cold: a fresh cache and directory each repeat
            measure(rows, "cold (encode + store)", plain, m, o, r -> ctx,
                    r -> new BlockCache(fp, 1L << 40, fresh(base, "cold-" + r), 1L << 40), noCache);
            Path shared = fresh(base, "shared");
            BlockCache warm = new BlockCache(fp, 1L << 40, shared, 1L << 40);
            plain.withBlockCache(warm).encode(ctx, ProgressListener.NONE).release();
            measure(rows, "warm (memory)", plain, m, o, r -> ctx, r -> warm, noCache);
            measure(rows, "warm (disk, after restart)", plain, m, o, r -> ctx,
                    r -> new BlockCache(fp, 1L << 40, shared, 1L << 40), noCache);
            // edited: another token in block `edit` each repeat, so that block always misses
            measure(rows, "edited (block " + edit + " changed)", plain, m, o, r -> {
                int[] e = ctx.clone();
                int at = Math.min(n - 1, edit * b + b / 2);
                e[at] = 3 + (e[at] + 1 + r) % (m.config().vocabSize() - 3);
                return e;
            }, r -> warm, noCache);
            print(rows);
            if (json != null) writeJson(rows, m, o, n);
        } finally {
            if (cacheDir == null) deleteTree(base);
        }
        return 0;
    }

    private double measure(List<Row> rows, String name, InferenceEngine plain, LoadedModel m, EngineOptions o,
                           java.util.function.IntFunction<int[]> context,
                           java.util.function.IntFunction<BlockCache> cacheFor, double noCacheCrit) {
        double[] wall = new double[repeats], crit = new double[repeats];
        int hits = 0, misses = 0;
        double critFlops = 0, predicted = 0, totalFlops = 0, totalPredicted = 0;
        for (int r = 0; r < repeats; r++) {
            int[] ctx = context.apply(r);
            BlockCache cache = cacheFor.apply(r);
            Predicate<BlockTask> cached = cache == null ? t -> false
                    : t -> cache.contains(cache.key(t, o.kvTypeK(), o.kvTypeV()));
            long[] perHost = FlopModel.phase1PerHost(m.config(), ctx, o, cached);
            predicted = FlopModel.max(perHost) / 1e9;
            totalPredicted = FlopModel.sum(perHost) / 1e9;
            EncodedContext enc = plain.withBlockCache(cache).encode(ctx, ProgressListener.NONE);
            wall[r] = enc.phase1Nanos() / 1e6;
            crit[r] = enc.phase1CriticalPathNanos() / 1e6;
            long cf = 0, tf = 0;
            hits = 0;
            misses = 0;
            for (ContextHost h : enc.hosts()) {
                HostStats s = h.stats();
                cf = Math.max(cf, s.phase1Flops());
                tf += s.phase1Flops();
                hits += s.cacheHits;
                misses += s.cacheMisses;
            }
            critFlops = cf / 1e9;
            totalFlops = tf / 1e9;
            enc.release();
        }
        double c = Stats.median(crit);
        Row row = new Row(name, Stats.median(wall), c, hits, misses, critFlops, predicted, totalFlops, totalPredicted,
                Double.isNaN(noCacheCrit) ? 1.0 : noCacheCrit / c);
        rows.add(row);
        System.err.printf("  %-28s phase1 wall %.1f ms, critical %.1f ms, %d hits, %d misses%n", name, row.wallMs(), c, hits, misses);
        return c;
    }

    private static Path fresh(Path base, String name) {
        Path d = base.resolve(name);
        deleteTree(d);
        try {
            return Files.createDirectories(d);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (var s = Files.walk(p)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (java.io.IOException ignored) {
            // a temporary directory; nothing more to do
        }
    }

    private static void print(List<Row> rows) {
        System.out.println();
        System.out.println("| run | phase-1 wall ms | critical path ms | hits | misses | crit GFLOP measured | crit GFLOP model | total GFLOP measured | total GFLOP model | critical-path speedup vs no cache |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (Row r : rows) {
            System.out.printf("| %s | %.1f | %.1f | %d | %d | %.2f | %.2f | %.2f | %.2f | %.1fx |%n", r.run(), r.wallMs(), r.critMs(), r.hits(),
                    r.misses(), r.critGflopMeasured(), r.critGflopPredicted(), r.totalGflopMeasured(), r.totalGflopPredicted(),
                    r.speedupVsNoCache());
        }
    }

    private void writeJson(List<Row> rows, LoadedModel m, EngineOptions o, int n) throws java.io.IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode j = om.createObjectNode();
        j.put("model", m.path().toString());
        j.put("config", m.config().toString());
        j.put("context", n);
        j.put("hosts", o.hosts());
        j.put("kv_type", o.kvTypeK().cliName());
        j.put("threads", dev.starattn.cpu.Parallel.threads());
        j.put("repeats", repeats);
        ArrayNode a = j.putArray("rows");
        for (Row r : rows) a.add(om.valueToTree(r));
        Files.writeString(json, om.writerWithDefaultPrettyPrinter().writeValueAsString(j));
    }
}
