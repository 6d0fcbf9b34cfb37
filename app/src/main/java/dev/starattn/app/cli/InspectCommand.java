package dev.starattn.app.cli;

import picocli.CommandLine.Command;

/** {@code starattn inspect}: diagnostics of a model's internals. */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Diagnostics of a model's internals.",
        subcommands = {SinksCommand.class})
public final class InspectCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
