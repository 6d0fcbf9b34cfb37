package dev.starattn.app;

import dev.starattn.bench.BenchCommand;
import dev.starattn.app.chat.ChatCommand;
import dev.starattn.app.cli.DemoCommand;
import dev.starattn.app.cli.ErrorHandler;
import dev.starattn.app.cli.EvalCommand;
import dev.starattn.app.cli.GenerateCommand;
import dev.starattn.app.cli.HostCommand;
import dev.starattn.app.cli.InfoCommand;
import dev.starattn.app.hub.ListCommand;
import dev.starattn.app.hub.PullCommand;
import dev.starattn.app.cli.InspectCommand;
import dev.starattn.app.serve.ServeCommand;
import dev.starattn.config.Switches;
import dev.starattn.format.Printable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code starattn} command line. */
@Command(name = "starattn", mixinStandardHelpOptions = true, version = "starattn 0.1.0",
        description = "Star Attention inference engine for the JVM: long-context Llama-family models, "
                + "context spread over hosts, exact distributed query attention.",
        subcommands = {DemoCommand.class, GenerateCommand.class, HostCommand.class, InfoCommand.class, BenchCommand.class,
                EvalCommand.class, ServeCommand.class, PullCommand.class, ListCommand.class, ChatCommand.class, InspectCommand.class})
public final class Main implements Runnable {
    public static void main(String[] args) {
        // A mistyped -Dstarattn.* switch is a usage error, said before any work starts (inside a
        // kernel's class initialisation it would surface as an ExceptionInInitializerError).
        try {
            Switches.check();
        } catch (IllegalArgumentException e) {
            System.err.println(Printable.sanitizeMessage("starattn: " + e.getMessage() + "."));
            System.exit(2);
        }
        System.exit(commandLine().execute(args));
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        ErrorHandler h = new ErrorHandler();
        cl.setExecutionExceptionHandler(h);
        cl.setParameterExceptionHandler(h);
        return cl;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
