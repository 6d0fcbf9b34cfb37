package dev.starattn.app.cli;

import dev.starattn.app.bench.AttentionBench;
import dev.starattn.app.bench.CacheBench;
import dev.starattn.app.bench.EngineBench;
import dev.starattn.app.bench.GemmBench;
import dev.starattn.app.bench.KernelBench;
import dev.starattn.app.bench.Phase2Bench;
import picocli.CommandLine.Command;

/** {@code starattn bench}: benchmark programs; each prints a table and writes JSON with --json. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: 'attention' (dense vs ring vs star phase 1 and 2), 'engine' (prefill and decode tokens/s),"
                + " 'kernel' (attention kernel GFLOP/s), 'gemm' (prefill matrix products, Java vs native), 'cache' (star block cache"
                + " cold vs warm) and 'phase2' (phase-2 round trip per layer, gRPC vs in-process hosts).",
        subcommands = {AttentionBench.class, EngineBench.class, KernelBench.class, GemmBench.class, CacheBench.class, Phase2Bench.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }
}
