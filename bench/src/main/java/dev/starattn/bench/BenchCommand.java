package dev.starattn.bench;

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
