package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.format.Printable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;

/**
 * Turns any failure into one sentence on stderr and a non-zero exit: bad arguments (unparseable
 * options, {@link UsageException}) exit 2, bad model files and runtime failures exit 1. A stack
 * trace only with STARATTN_DEBUG=1. Every message passes {@link Printable#sanitizeMessage} last:
 * it may quote a path, an argument or text from a file, and none of their control sequences may
 * reach the terminal.
 */
public final class ErrorHandler implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parseResult) {
        cl.getErr().println(Printable.sanitizeMessage("starattn: " + sentence(ex)));
        if ("1".equals(System.getenv("STARATTN_DEBUG"))) ex.printStackTrace(cl.getErr());
        cl.getErr().flush();
        return ex instanceof UsageException ? 2 : 1;
    }

    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        cl.getErr().println(Printable.sanitizeMessage("starattn: " + ex.getMessage()));
        cl.getErr().println(Printable.sanitizeMessage("Try '" + cl.getCommandSpec().qualifiedName() + " --help' for the options."));
        cl.getErr().flush();
        return 2;
    }

    static String sentence(Throwable ex) {
        Throwable t = ex;
        if (t instanceof UncheckedIOException u) t = u.getCause();
        if (t instanceof NoSuchFileException n) return "file " + n.getFile() + " does not exist.";
        if (t instanceof OutOfMemoryError) return "out of memory; give the JVM more with STARATTN_JAVA_OPTS=-Xmx16g or use a shorter context.";
        String m = t.getMessage();
        if (m == null || m.isBlank()) m = t.getClass().getSimpleName();
        if (t instanceof IOException && !(t instanceof NoSuchFileException)) m = "I/O error: " + m;
        if (!(t instanceof IllegalArgumentException || t instanceof dev.starattn.format.ModelFormatException
                || t instanceof IOException || t instanceof IllegalStateException)) {
            m = "internal error (" + t.getClass().getSimpleName() + "): " + m + " (set STARATTN_DEBUG=1 for details)";
        }
        return m.endsWith(".") ? m : m + ".";
    }
}
