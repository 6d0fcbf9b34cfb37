package dev.starattn.app.cli;

import dev.starattn.cli.UsageException;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;

/**
 * Turns any failure into one sentence on stderr and a non-zero exit: bad input exits 2 (unparseable
 * options, a {@link UsageException}, a model file or directory that cannot be used: a
 * {@link ModelFormatException}), failures at run time exit 1 (a host that is down, I/O errors). A stack
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
        return ex instanceof UsageException || ex instanceof ModelFormatException ? 2 : 1;
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
        if (!(t instanceof IllegalArgumentException || t instanceof ModelFormatException
                || t instanceof IOException || t instanceof IllegalStateException)) {
            m = "internal error (" + t.getClass().getSimpleName() + "): " + m + " (set STARATTN_DEBUG=1 for details)";
        }
        return m.endsWith(".") ? m : m + ".";
    }
}
