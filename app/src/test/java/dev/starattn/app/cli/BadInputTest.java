package dev.starattn.app.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.app.Main;
import dev.starattn.format.gguf.GgufValueType;
import dev.starattn.format.gguf.GgufWriter;
import dev.starattn.model.RandomLlamaModel;
import dev.starattn.tensor.GgmlType;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input through the CLI: each case exits non-zero, prints exactly one line on stderr starting with
 * "starattn: " that names the problem, no stack trace, and returns quickly (lying headers allocate nothing).
 */
class BadInputTest {
    @TempDir static Path dir;
    static Path good;
    static byte[] goodBytes;

    record Run(int code, String out, String err) {}

    @BeforeAll
    static void writeModel() throws Exception {
        good = tiny().write(dir.resolve("good.gguf"));
        goodBytes = Files.readAllBytes(good);
    }

    static RandomLlamaModel tiny() {
        return new RandomLlamaModel().dim(32).layers(1).heads(2).kvHeads(1).ffnDim(64).vocab(300).contextLength(64);
    }

    static Run run(String... args) {
        return assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            StringWriter out = new StringWriter(), err = new StringWriter();
            var cl = Main.commandLine();
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            int code = cl.execute(args);
            return new Run(code, out.toString(), err.toString());
        });
    }

    /** Runs generate and info (when {@code infoToo}) on the file and checks the error line. */
    static void assertOneLineError(Run r, String... mustContain) {
        assertNotEquals(0, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), "exactly one line on stderr, got:\n" + r.err());
        String line = lines.getFirst();
        assertTrue(line.startsWith("starattn: "), line);
        assertFalse(line.contains("Exception") || line.contains("\tat "), "no stack trace / exception names: " + line);
        for (String s : mustContain) assertTrue(line.toLowerCase().contains(s.toLowerCase()), "'" + s + "' not in: " + line);
    }

    static Path file(String name, byte[] bytes) throws Exception {
        return Files.write(dir.resolve(name), bytes);
    }

    static Run generate(Path model) {
        return run("generate", "-m", model.toString(), "--context", "some context", "--query", "a question", "-n", "4");
    }

    static void badModel(Path p, String... mustContain) {
        assertOneLineError(generate(p), mustContain);
        assertOneLineError(run("info", "-m", p.toString()), mustContain);
    }

    @Test
    void truncatedGguf() throws Exception {
        badModel(file("trunc.gguf", Arrays.copyOf(goodBytes, goodBytes.length / 2)), "truncated");
        badModel(file("trunc2.gguf", Arrays.copyOf(goodBytes, 10)), "truncated");
    }

    @Test
    void wrongMagic() throws Exception {
        byte[] b = goodBytes.clone();
        b[0] = 'X';
        badModel(file("magic.gguf", b), "not a GGUF file");
    }

    @Test
    void headerClaimsTwoToTheFortyTensors() throws Exception {
        badModel(tiny().build().overrideTensorCount(1L << 40).write(dir.resolve("count.gguf")), "corrupt");
    }

    @Test
    void headerClaimsHugeKvCount() throws Exception {
        badModel(tiny().build().overrideKvCount(1L << 40).write(dir.resolve("kvcount.gguf")));
    }

    @Test
    void stringOfTwoToTheSixtyTwoBytes() throws Exception {
        GgufWriter w = tiny().build().putRaw("evil.string", GgufValueType.STRING.id, GgufWriter.le64(1L << 62));
        badModel(w.write(dir.resolve("string.gguf")), "string");
    }

    @Test
    void tensorOffsetPastTheEnd() throws Exception {
        GgufWriter w = tiny().build().addTensorRaw("extra.weight", GgmlType.F32.id, new long[] {32}, new byte[0], 1L << 40);
        badModel(w.write(dir.resolve("offset.gguf")), "extra.weight");
    }

    @Test
    void unsupportedTensorType() throws Exception {
        // type 3 is GGML Q4_1, which starattn does not read
        GgufWriter w = tiny().build().addTensorRaw("extra.weight", 3, new long[] {32}, new byte[20], null);
        badModel(w.write(dir.resolve("type.gguf")), "extra.weight", "type");
    }

    @Test
    void missingTensor() throws Exception {
        // claims 2 layers but holds tensors for 1: blk.1.* are missing
        GgufWriter w = tiny().build().put("llama.block_count", GgufValueType.UINT32, 2L);
        badModel(w.write(dir.resolve("missing.gguf")), "blk.1.");
    }

    @Test
    void missingModelFile() {
        badModel(dir.resolve("nope.gguf"), "nope.gguf", "does not exist");
    }

    @Test
    void promptLongerThanContextLength() {
        String longText = "word ".repeat(200);
        assertOneLineError(run("generate", "-m", good.toString(), "--context", longText, "--query", "q", "-n", "4"),
                "context length");
    }

    @Test
    void emptyContextAndQuery() throws Exception {
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "", "--query", "q", "-n", "4"), "context is empty");
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query", "", "-n", "4"), "query is empty");
        Path empty = file("empty.txt", new byte[0]);
        assertOneLineError(run("generate", "-m", good.toString(), "--context-tokens", empty.toString(), "--query", "q", "-n", "4"),
                "context is empty");
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query-tokens", empty.toString(), "-n", "4"),
                "query is empty");
    }

    @Test
    void badTokenFiles() throws Exception {
        Path nan = file("nan.txt", "1, 5, seven, 9".getBytes());
        assertOneLineError(run("generate", "-m", good.toString(), "--context-tokens", nan.toString(), "--query", "q", "-n", "4"),
                "'seven'", "not a token id");
        Path oov = file("oov.txt", "1 5 300".getBytes());
        assertOneLineError(run("generate", "-m", good.toString(), "--context-tokens", oov.toString(), "--query", "q", "-n", "4"),
                "300", "vocabulary");
        Path neg = file("neg.txt", "1 -4".getBytes());
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query-tokens", neg.toString(), "-n", "4"),
                "-4", "vocabulary");
    }

    @Test
    void badAttentionValue() {
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query", "q", "--attention", "bogus", "-n", "4"),
                "bogus");
    }

    @Test
    void badQueryHostValue() {
        assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query", "q", "--query-host", "tpu", "-n", "4"),
                "--query-host", "tpu");
    }

    @Test
    void evalDeviceOptionsAreCheckedBeforeAnyWork() {
        // Both before the GPU is looked for, so they hold on any machine.
        assertOneLineError(run("eval", "-m", good.toString(), "--device", "tpu", "--samples", "1"), "cpu or cuda", "tpu");
        assertOneLineError(run("eval", "-m", good.toString(), "--device", "cuda", "--kv-type", "f16", "--samples", "1"), "--kv-type", "bf16");
    }

    @Test
    void cudaWithoutAGpuSaysSoInOneLine() {
        // Only where no GPU is usable (CI, this machine): the GPU machine runs these commands for real (cuda/gpu/run.sh).
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.starattn.cuda.CudaDevice.unavailableReason() != null, "a GPU is usable here");
        for (String queryHost : new String[] {"gpu", "cpu"}) {
            assertOneLineError(run("generate", "-m", good.toString(), "--context", "c", "--query", "q", "--device", "cuda", "--query-host", queryHost,
                    "--hosts", "2", "-n", "2"), "--device cuda", "no usable CUDA GPU");
        }
        assertOneLineError(run("serve", "-m", good.toString(), "--device", "cuda", "--port", "0"), "--device cuda", "no usable CUDA GPU");
        assertOneLineError(run("serve", "-m", good.toString(), "--device", "cuda", "--attention", "dense", "--port", "0"), "--device cuda", "no usable CUDA GPU");
        assertOneLineError(run("eval", "-m", good.toString(), "--device", "cuda", "--attention", "dense", "--samples", "1"), "--device cuda", "no usable CUDA GPU");
        assertOneLineError(run("serve", "-m", good.toString(), "--device", "cuda", "--cache-dir", dir.resolve("cache").toString(), "--port", "0"),
                "--cache-dir", "--device cuda");
    }

    @Test
    void huggingFaceDirWithoutTokenizerTakesTokenIdsOnly() throws Exception {
        var c = new dev.starattn.model.DecoderConfig("llama", 32, 1, 2, 1, 16, 64, 300, 64, 1e-5f, 10000f, 16, true,
                dev.starattn.model.DecoderConfig.defaultInvFreq(10000f, 16), false, false);
        Path hf = dir.resolve("hf-no-tokenizer");
        dev.starattn.testutil.HfDirWriter.write(hf, c, new dev.starattn.testutil.InMemoryModel(c, 5), false);
        assertOneLineError(generate(hf), "has no tokenizer.json", "--context-tokens");
        Path ctx = file("ctx-ids.txt", "5 17 200 42 7 9 11".getBytes()), q = file("q-ids.txt", "3 4".getBytes());
        Run r = run("generate", "-m", hf.toString(), "--context-tokens", ctx.toString(), "--query-tokens", q.toString(), "-n", "2", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"tokens\""), r.out());
    }

    @Test
    void goodModelStillWorks() {
        Run r = run("generate", "-m", good.toString(), "--context", "some context", "--query", "q", "-n", "2", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"tokens\""), r.out());
    }

    @Test
    void hostPortOutOfRange() {
        assertOneLineError(run("host", "-m", good.toString(), "--port", "70000"), "--port takes 0 (any free port) to 65535, got 70000");
        assertOneLineError(run("host", "-m", good.toString(), "--port", "-1"), "--port", "got -1");
    }

    @Test
    void benchPhase2BadOptions() {
        assertOneLineError(run("bench", "phase2", "-m", good.toString(), "--hosts", "1"), "--hosts must be at least 2");
        assertOneLineError(run("bench", "phase2", "-m", good.toString(), "--context", "lots"), "--context takes a token count", "got lots");
        assertOneLineError(run("bench", "phase2", "-m", good.toString(), "--wire", "f8"), "--wire takes f32 or bf16, got f8");
    }
}
