package dev.starattn.app.chat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;

/**
 * Where the questions come from: a terminal (JLine: line editing, history kept in
 * ~/.starattn_history) or, when standard input is not a terminal, its lines as they are piped.
 */
interface LineSource extends AutoCloseable {
    /** The next line, or null at the end of input. */
    String readLine(String prompt) throws IOException;

    @Override
    void close() throws IOException;

    static LineSource open(InputStream in, boolean interactive) throws IOException {
        return interactive ? new Terminal_() : new Piped(in);
    }

    final class Piped implements LineSource {
        private final BufferedReader reader;

        Piped(InputStream in) {
            reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        }

        @Override
        public String readLine(String prompt) throws IOException {
            return reader.readLine();
        }

        @Override
        public void close() {}
    }

    final class Terminal_ implements LineSource {
        private final Terminal terminal;
        private final LineReader reader;

        Terminal_() throws IOException {
            terminal = TerminalBuilder.builder().system(true).build();
            reader = LineReaderBuilder.builder().terminal(terminal).appName("starattn")
                    .variable(LineReader.HISTORY_FILE, Path.of(System.getProperty("user.home"), ".starattn_history"))
                    .build();
        }

        @Override
        public String readLine(String prompt) {
            try {
                return reader.readLine(prompt);
            } catch (UserInterruptException e) {
                return "";  // Ctrl-C drops the line being typed
            } catch (EndOfFileException e) {
                return null;  // Ctrl-D ends the session
            }
        }

        @Override
        public void close() throws IOException {
            reader.getHistory().save();
            terminal.close();
        }
    }
}
