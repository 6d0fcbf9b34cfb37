package dev.starattn.app;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code starattn} command line. */
@Command(name = "starattn", mixinStandardHelpOptions = true, version = "starattn 0.1.0",
        description = "Star Attention inference engine for the JVM.",
        subcommands = {})
public final class Main implements Runnable {
    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
