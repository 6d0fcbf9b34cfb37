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
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code starattn} command line. */
@Command(name = "starattn", mixinStandardHelpOptions = true, version = "starattn 0.1.0",
        description = "Star Attention inference engine for the JVM: long-context Llama-family models, "
                + "context spread over hosts, exact distributed query attention.")
public final class Main implements Runnable {
    /**
     * The subcommands, in the order help lists them. Picocli reflects over every registered command
     * (its fields and methods, so the classes they name load: Jackson, the server, gRPC), which cost
     * `info` and `generate` a few hundred classes they never use; {@link #commandLine(String...)}
     * registers only the one named.
     */
    private static final List<String> SUBCOMMANDS = List.of("demo", "generate", "chat", "host", "info", "inspect", "bench", "eval", "serve", "pull", "list");

    /** A switch rather than a table of constructors, so that only the class named is loaded. */
    private static Object subcommand(String name) {
        return switch (name) {
            case "demo" -> new DemoCommand();
            case "generate" -> new GenerateCommand();
            case "host" -> new HostCommand();
            case "info" -> new InfoCommand();
            case "bench" -> new BenchCommand();
            case "eval" -> new EvalCommand();
            case "serve" -> new ServeCommand();
            case "pull" -> new PullCommand();
            case "list" -> new ListCommand();
            case "chat" -> new ChatCommand();
            case "inspect" -> new InspectCommand();
            default -> throw new IllegalArgumentException(name);
        };
    }

    public static void main(String[] args) {
        // A mistyped -Dstarattn.* switch is a usage error, said before any work starts (inside a
        // kernel's class initialisation it would surface as an ExceptionInInitializerError).
        try {
            Switches.check();
        } catch (IllegalArgumentException e) {
            System.err.println(Printable.sanitizeMessage("starattn: " + e.getMessage() + "."));
            System.exit(2);
        }
        System.exit(commandLine(args).execute(args));
    }

    /** The command line with every subcommand. */
    public static CommandLine commandLine() {
        return commandLine(new String[0]);
    }

    /**
     * The command line for these arguments: when the first names a subcommand exactly, only that one
     * is registered (its help, errors and suggestions name only itself); otherwise all of them, so
     * that top-level help lists them and a mistyped name gets picocli's suggestions.
     */
    public static CommandLine commandLine(String... args) {
        CommandLine cl = new CommandLine(new Main());
        if (args.length > 0 && SUBCOMMANDS.contains(args[0])) {
            cl.addSubcommand(args[0], subcommand(args[0]));
        } else {
            for (String name : SUBCOMMANDS) cl.addSubcommand(name, subcommand(name));
        }
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
