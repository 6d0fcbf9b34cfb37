package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.app.Main;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad options and bad input files through the CLI, in-process: each gives exactly one line, the
 * sentence asserted whole, and exit 2 (1 for a model path that is no model). Checks that need no
 * model run with a model path that does not exist: they must fail before loading it.
 */
class CliInputTest {
    @TempDir static Path dir;
    static Path good, missingModel, ctxIds;

    record Run(int code, String out, String err) {}

    @BeforeAll
    static void setUp() throws Exception {
        good = BadInputTest.tiny().write(dir.resolve("good.gguf"));
        missingModel = dir.resolve("not-loaded.gguf");
        ctxIds = Files.writeString(dir.resolve("ctx.txt"), "5 17 200 42 7 9 11 13 21 33"); // 10 tokens
    }

    static Run run(String... args) {
        return runWithStdin(null, args);
    }

    static Run runWithStdin(byte[] stdin, String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        InputStream saved = System.in;
        if (stdin != null) System.setIn(new ByteArrayInputStream(stdin));
        try {
            int code = cl.execute(args);
            return new Run(code, out.toString(), err.toString());
        } finally {
            System.setIn(saved);
        }
    }

    /** Exactly one line on stderr, "starattn: " + the sentence, and the exit code. */
    static void fails(int code, String sentence, Run r) {
        assertEquals("starattn: " + sentence, r.err().stripTrailing(), "stderr");
        assertEquals(code, r.code(), "exit code; stderr: " + r.err());
    }

    static String[] generate(Path model, String... more) {
        List<String> a = new ArrayList<>(List.of("generate", "-m", model.toString(), "--context-tokens", ctxIds.toString(), "--query", "q", "-n", "2"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /** A model file that lies is bad input like a bad option: one sentence naming the field, exit 2, nothing run. */
    @Test
    void aLyingModelFileIsABadInput() {
        Path noHeads = BadInputTest.tiny().build().put("llama.attention.head_count", dev.starattn.format.gguf.GgufValueType.UINT32, 0L)
                .write(dir.resolve("no-heads.gguf"));
        Run r = run(generate(noHeads));
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("llama.attention.head_count") && r.out().isEmpty(), r.err());
    }

    @Test
    void hostCountOutOfRangeFailsBeforeTheModelLoads() {
        fails(2, "--hosts takes 1 to 1024, got 100000.", run(generate(missingModel, "--hosts", "100000")));
        fails(2, "--hosts takes 1 to 1024, got 0.", run(generate(missingModel, "--hosts", "0")));
        fails(2, "--hosts takes 1 to 1024, got -3.", run(generate(missingModel, "--hosts", "-3", "--attention", "dense")));
        fails(2, "--hosts takes 1 to 1024, got 100000.", run("demo", "-m", missingModel.toString(), "--hosts", "100000"));
        fails(2, "--hosts takes 1 to 1024, got 100000.", run("eval", "-m", missingModel.toString(), "--hosts", "100000"));
        fails(2, "--hosts takes 1 to 1024, got 100000.", run("serve", "-m", missingModel.toString(), "--hosts", "100000", "--port", "0"));
        fails(2, "--hosts takes 1 to 1024, got 0.", run("serve", "-m", missingModel.toString(), "--hosts", "0", "--port", "0"));
        fails(2, "--hosts takes 1 to 1024, got 100000.", run("bench", "attention", "-m", missingModel.toString(), "--hosts", "2,100000"));
        fails(2, "--hosts 8 is more than the 4 blocks of 1024 tokens that a context of 4096 tokens makes; each host needs a block:"
                + " use --hosts 4 or fewer or a smaller --block-size.",
                run("bench", "cache", "-m", missingModel.toString(), "--hosts", "8", "--block-size", "1024"));
    }

    @Test
    void hostCountBeyondTheContextFailsRightAfterLoading() {
        // 10 context tokens: star makes blocks of 1 token for 20 hosts, 10 of them.
        fails(2, "--hosts 20 is more than the 10 blocks of 1 token that a context of 10 tokens makes; each host needs a block:"
                + " use --hosts 10 or fewer.", run(generate(good, "--hosts", "20")));
        fails(2, "--hosts 3 is more than the 2 blocks of 8 tokens that a context of 10 tokens makes; each host needs a block:"
                + " use --hosts 2 or fewer or a smaller --block-size.", run(generate(good, "--hosts", "3", "--block-size", "8")));
        fails(2, "--hosts 11 is more than a context of 10 tokens can be split into for ring attention (each host holds at least one"
                + " token): use --hosts 10 or fewer.", run(generate(good, "--hosts", "11", "--attention", "ring")));
        fails(2, "--hosts 6 is more than a context of 10 tokens can be split into for ring-zigzag attention (each host holds two"
                + " chunks of at least one token): use --hosts 5 or fewer.", run(generate(good, "--hosts", "6", "--attention", "ring-zigzag")));
        // Demo and eval know the length before loading.
        fails(2, "--hosts 600 is more than the 586 blocks of 14 tokens that a context of 8192 tokens makes; each host needs a block:"
                + " use --hosts 586 or fewer.", run("demo", "-m", missingModel.toString(), "--hosts", "600"));
        fails(2, "--hosts 8 is more than the 4 blocks of 1 token that a context of 4 tokens makes; each host needs a block:"
                + " use --hosts 4 or fewer or a smaller --block-size.", run("eval", "-m", missingModel.toString(), "--hosts", "8", "--lengths", "4"));
        Run ok = run(generate(good, "--hosts", "10", "--json"));
        assertEquals(0, ok.code(), ok.err());
    }

    @Test
    void samplingOptionsOutOfRange() {
        fails(2, "--temperature takes a finite number, 0 (greedy) or more, got NaN.", run(generate(missingModel, "--temperature", "NaN")));
        fails(2, "--temperature takes a finite number, 0 (greedy) or more, got -1.0.", run(generate(missingModel, "--temperature", "-1")));
        fails(2, "--temperature takes a finite number, 0 (greedy) or more, got Infinity.",
                run(generate(missingModel, "--temperature", "Infinity")));
        fails(2, "--top-p takes a number above 0 and at most 1, got 0.0.", run(generate(missingModel, "--top-p", "0")));
        fails(2, "--top-p takes a number above 0 and at most 1, got 1.5.", run(generate(missingModel, "--top-p", "1.5")));
        fails(2, "--top-p takes a number above 0 and at most 1, got NaN.", run(generate(missingModel, "--top-p", "NaN")));
        fails(2, "-n must be 0 or more, got -1.", run("generate", "-m", missingModel.toString(), "--context", "c", "--query", "q", "-n", "-1"));
        Run seed = run(generate(good, "--seed", "-5", "--temperature", "0.8", "--top-p", "0.9", "--json"));
        assertEquals(0, seed.code(), seed.err());
    }

    @Test
    void blockAndAnchorSizes() {
        fails(2, "--block-size must be at least 1 token, got 0; leave it out for context / hosts.", run(generate(missingModel, "--block-size", "0")));
        fails(2, "--block-size must be at least 1 token, got -4; leave it out for context / hosts.", run(generate(missingModel, "--block-size", "-4")));
        fails(2, "--anchor-size 9 is larger than the block of 8 tokens; an anchor is at most one block.",
                run(generate(missingModel, "--block-size", "8", "--anchor-size", "9")));
        // Blocks of N / hosts = 5 tokens: known only once the context is read.
        fails(2, "--anchor-size 6 is larger than the block of 5 tokens; an anchor is at most one block.",
                run(generate(good, "--hosts", "2", "--anchor-size", "6")));
        fails(2, "--anchor-size 5000 is larger than the block of 1024 tokens; an anchor is at most one block.",
                run("eval", "-m", missingModel.toString(), "--anchor-size", "5000", "--lengths", "4k"));
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void fifoAsModelIsRefusedAtOnce() throws Exception {
        Path fifo = mkfifo("model.fifo");
        long t0 = System.nanoTime();
        fails(2, "model file " + fifo + " is a FIFO (named pipe), not a regular file or directory.",
                run("generate", "-m", fifo.toString(), "--context", "c", "--query", "q"));
        fails(2, "model file " + fifo + " is a FIFO (named pipe), not a regular file or directory.", run("info", "-m", fifo.toString()));
        assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "well under a second");
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void contextFileThatIsNoFileSaysWhatItIs() throws Exception {
        fails(2, "--context-file /dev/null is a character device, not a regular file (to read a pipe, give - and pipe it to standard input).",
                run("generate", "-m", missingModel.toString(), "--context-file", "/dev/null", "--query", "q"));
        fails(2, "--context-file " + dir + " is a directory, not a file.",
                run("generate", "-m", missingModel.toString(), "--context-file", dir.toString(), "--query", "q"));
        Path fifo = mkfifo("ctx.fifo");
        fails(2, "--context-file " + fifo + " is a FIFO (named pipe), not a regular file (to read a pipe, give - and pipe it to standard input).",
                run("generate", "-m", missingModel.toString(), "--context-file", fifo.toString(), "--query", "q"));
        Path nope = dir.resolve("nope.txt");
        fails(2, "--query-file " + nope + " does not exist.", run("generate", "-m", missingModel.toString(), "--context", "c", "--query-file", nope.toString()));
        fails(2, "--context-tokens " + dir + " is a directory, not a file.",
                run("generate", "-m", missingModel.toString(), "--context-tokens", dir.toString(), "--query", "q"));
        fails(2, "--data " + nope + " does not exist.", run("eval", "-m", missingModel.toString(), "--data", nope.toString()));
    }

    @Test
    void invalidUtf8SaysWhereItIs() throws Exception {
        Path bad = Files.write(dir.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xe9, ' ', 'x'});
        fails(2, "--context-file " + bad + " is not valid UTF-8: byte 0xe9 at byte offset 3.",
                run("generate", "-m", missingModel.toString(), "--context-file", bad.toString(), "--query", "q"));
        fails(2, "--query-tokens " + bad + " is not valid UTF-8: byte 0xe9 at byte offset 3.",
                run("generate", "-m", missingModel.toString(), "--context", "c", "--query-tokens", bad.toString()));
        fails(2, "--data " + bad + " is not valid UTF-8: byte 0xe9 at byte offset 3.",
                run("eval", "-m", missingModel.toString(), "--data", bad.toString()));
        // A sequence cut off at the end of the file: the offset of its first byte.
        Path cut = Files.write(dir.resolve("cut.txt"), new byte[] {'a', 'b', (byte) 0xe2, (byte) 0x82});
        fails(2, "--context-file " + cut + " is not valid UTF-8: byte 0xe2 at byte offset 2.",
                run("generate", "-m", missingModel.toString(), "--context-file", cut.toString(), "--query", "q"));
    }

    @Test
    void unreadableFileSaysPermissionDenied() throws Exception {
        Path secret = Files.writeString(dir.resolve("secret.txt"), "context");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("---------"));
        try {
            Assumptions.assumeFalse(Files.isReadable(secret), "this user reads files whatever their permissions (root)");
            fails(2, "--context-file " + secret + " cannot be read: permission denied.",
                    run("generate", "-m", missingModel.toString(), "--context-file", secret.toString(), "--query", "q"));
        } finally {
            Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        }
    }

    @Test
    void dashReadsStandardInput() {
        Run r = runWithStdin("a context from a pipe".getBytes(StandardCharsets.UTF_8),
                "generate", "-m", good.toString(), "--context-file", "-", "--query", "q", "-n", "2", "--json", "--hosts", "2");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"context_tokens\""), r.out());
        Run ids = runWithStdin("5 17 200 42".getBytes(StandardCharsets.UTF_8),
                "generate", "-m", good.toString(), "--context-tokens", "-", "--query", "q", "-n", "2", "--json", "--hosts", "2");
        assertEquals(0, ids.code(), ids.err());
        assertTrue(ids.out().contains("\"context_tokens\" : 4"), ids.out());
        fails(2, "--context-tokens - (standard input) holds 'x', which is not a token id.",
                runWithStdin("5 x".getBytes(StandardCharsets.UTF_8), "generate", "-m", good.toString(), "--context-tokens", "-", "--query", "q"));
        fails(2, "--context-file - (standard input) is not valid UTF-8: byte 0xff at byte offset 1.",
                runWithStdin(new byte[] {'a', (byte) 0xff}, "generate", "-m", missingModel.toString(), "--context-file", "-", "--query", "q"));
        fails(2, "--data - (standard input) holds no samples.",
                runWithStdin("\n\n".getBytes(StandardCharsets.UTF_8), "eval", "-m", missingModel.toString(), "--data", "-"));
        fails(2, "only one of --context-file, --context-tokens, --query-file and --query-tokens can be - (standard input).",
                runWithStdin(new byte[0], "generate", "-m", missingModel.toString(), "--context-file", "-", "--query-file", "-"));
    }

    @Test
    void controlSequencesInPathsAndArgumentsNeverReachTheTerminal() {
        Path evil = dir.resolve("a\u001b]0;pwned\u0007\u001b[2Jb.txt");
        Run r = run("generate", "-m", missingModel.toString(), "--context-file", evil.toString(), "--query", "q");
        fails(2, "--context-file " + dir + "/a\\x1b]0;pwned\\x07\\x1b[2Jb.txt does not exist.", r);
        // The model path's error comes from the core library: sanitized all the same.
        Run m = run("info", "-m", evil.toString());
        fails(2, "model file " + dir + "/a\\x1b]0;pwned\\x07\\x1b[2Jb.txt does not exist.", m);
        // An argument picocli cannot parse: its message quotes the argument.
        Run p = run("generate", "-m", missingModel.toString(), "--context", "c", "--query", "q", "--hosts", "\u001b[31m4");
        assertEquals(2, p.code());
        assertTrue(p.err().startsWith("starattn: Invalid value for option '--hosts': '\\x1b[31m4' is not an int"), p.err());
        for (Run x : List.of(r, m, p)) assertFalse(x.err().chars().anyMatch(c -> c == 0x1b || c == 0x07), x.err());
    }

    static Path mkfifo(String name) throws Exception {
        Path p = dir.resolve(name);
        Files.deleteIfExists(p);
        try {
            Process proc = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
            Assumptions.assumeTrue(proc.waitFor(5, TimeUnit.SECONDS) && proc.exitValue() == 0, "mkfifo failed");
        } catch (java.io.IOException e) {
            Assumptions.abort("no mkfifo here: " + e.getMessage());
        }
        return p;
    }
}
