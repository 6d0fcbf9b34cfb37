package dev.starattn.app.cli;

import dev.starattn.app.bench.AttentionBench;
import dev.starattn.app.bench.CacheBench;
import dev.starattn.app.bench.EngineBench;
import dev.starattn.app.bench.GemmBench;
import dev.starattn.app.bench.KernelBench;
import picocli.CommandLine.Command;

/** {@code starattn bench}: benchmark programs; each prints a table and writes JSON with --json. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: 'attention' (dense vs ring vs star phase 1 and 2), 'engine' (prefill and decode tokens/s), 'kernel' (attention GFLOP/s), 'gemm' (prefill matrix products, Java vs native) and 'cache' (star block cache cold vs warm).",
        subcommands = {AttentionBench.class, EngineBench.class, KernelBench.class, GemmBench.class, CacheBench.class})
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }
}
