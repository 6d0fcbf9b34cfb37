package dev.starattn.app.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code starattn bench}: placeholder until the benchmark lands in this build. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (dense vs ring vs star; engine throughput).")
public final class BenchCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new IllegalStateException("bench is not in this build yet");
    }
}
