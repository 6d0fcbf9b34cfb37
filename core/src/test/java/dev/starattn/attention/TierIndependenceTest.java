package dev.starattn.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.starattn.cpu.VectorOps;
import dev.starattn.tensor.WeightMatrices;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The CPU kernels give the same bits whether their code runs interpreted or C2-compiled. The
 * Vector API leaves the order of {@code reduceLanes(ADD)} open and computes
 * {@code lanewise(EXP)} with a vector math stub in C2 but with {@code Math.exp} per lane
 * otherwise: kernels built on them changed their results in the last bits as the JIT warmed up,
 * so that two runs of the same engine in one JVM differed (see
 * {@link dev.starattn.engine.DeterminismTest}). Here a child JVM running interpreted
 * ({@code -Xint}) must print the same digests as this JVM after warm-up.
 */
class TierIndependenceTest {
    /** Digests (hashes of the float bits) of attention over several shapes, one a line. */
    static List<String> digests() {
        List<String> out = new ArrayList<>();
        for (int hd : new int[] {16, 64}) {
            Random r = new Random(hd);
            int kvh = 2, heads = 4, keys = 600;
            KvCache kv = new KvCache(kvh, hd, keys);
            float[] k = new float[keys * kvh * hd], v = new float[keys * kvh * hd];
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian();
            }
            int[] pos = new int[keys];
            for (int i = 0; i < keys; i++) pos[i] = i;
            kv.append(k, v, 0, keys, pos, 0);
            for (int rows : new int[] {1, 3, 9}) {
                float[] q = new float[rows * heads * hd];
                for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
                int[] qp = new int[rows];
                for (int i = 0; i < rows; i++) qp[i] = keys - rows + i;
                Partial p = AttentionKernel.attend(q, rows, qp, heads, kv);
                out.add("attention hd " + hd + " rows " + rows + ": " + Arrays.hashCode(p.out()) + " " + Arrays.hashCode(p.lse()));
            }
        }
        // A weight matrix product (fused rows and the batched strip kernel), f32 weights.
        Random r = new Random(5);
        int rows = 96, cols = 128;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(4 * w.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(w);
        var m = WeightMatrices.of(dev.starattn.tensor.GgmlType.F32, java.lang.foreign.MemorySegment.ofArray(bytes.array()), rows, cols);
        for (int batch : new int[] {1, 40}) {
            float[] x = new float[batch * cols], y = new float[batch * rows];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            m.matmul(x, y, batch);
            out.add("matmul batch " + batch + ": " + Arrays.hashCode(y));
        }
        float[] e = new float[256];
        for (int i = 0; i < e.length; i++) e[i] = (float) (r.nextGaussian() * 10);
        VectorOps.softmaxInPlace(e, 0, e.length);
        out.add("softmax: " + Arrays.hashCode(e));
        return out;
    }

    public static void main(String[] args) {
        for (String s : digests()) System.out.println(s);
    }

    @Test
    void interpretedAndCompiledKernelsAgreeBitForBit() throws Exception {
        List<String> compiled = null;
        for (int i = 0; i < 60; i++) compiled = digests(); // long enough for C2 to compile the kernels
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        // The child keeps the Java attention tile (this JVM may run the native one, which gives its bits).
        Process p = new ProcessBuilder(java.toString(), "-Xint", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Dstarattn.prefillKernels=java",
                "-Dstarattn.threads=" + dev.starattn.cpu.Parallel.threads(),
                "-cp", System.getProperty("java.class.path"), TierIndependenceTest.class.getName())
                .redirectErrorStream(true).start();
        List<String> interpreted = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("WARNING")) interpreted.add(line);
            }
        }
        assertEquals(0, p.waitFor(), "child JVM: " + interpreted);
        assertEquals(String.join("\n", compiled), String.join("\n", interpreted), "interpreted (left: compiled)");
    }
}
