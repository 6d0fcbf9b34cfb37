package dev.starattn.tensor;

import dev.starattn.cpu.Parallel;

/**
 * Decode (one token) products of several matrices that read the same activation, in one parallel
 * region instead of one per matrix: Q, K and V; gate and up with the SwiGLU between them. A region
 * costs a wake-up and a barrier (tens of microseconds on a busy machine), and decode enters a few
 * per layer, so fewer regions is time saved on every token. The activation is prepared (e.g.
 * quantized for the integer kernel) once for all the matrices of one type and width.
 */
public final class MatVec {
    private MatVec() {}

    /**
     * Chooses the kernel of batch-1 Q8_0 products ({@code auto}, {@code native} or {@code java}, as
     * {@code -Dstarattn.decode}) and returns one line naming it.
     */
    public static String selectKernel(String mode) {
        return NativeQ8.select(mode);
    }

    /** One line: which kernel runs batch-1 Q8_0 products now. */
    public static String describeKernel() {
        return NativeQ8.describe();
    }

    /** outs[i][r] = ws[i][r] . x for every matrix, one token; all in one parallel region. */
    public static void multiply(float[] x, WeightMatrix[] ws, float[][] outs) {
        int n = ws.length;
        AbstractWeightMatrix[] ms = new AbstractWeightMatrix[n];
        for (int i = 0; i < n; i++) {
            if (!(ws[i] instanceof AbstractWeightMatrix m)) {
                for (int j = 0; j < n; j++) ws[j].matmul(x, outs[j], 1);
                return;
            }
            check(m, x, outs[i]);
            ms[i] = m;
        }
        Object[] prepared = prepare(ms, x);
        int[] start = new int[n + 1];
        int grain = Integer.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            start[i + 1] = start[i] + ms[i].rows;
            grain = Math.min(grain, ms[i].rowGrain());
        }
        Parallel.forRange(start[n], grain, (from, to) -> {
            for (int i = 0; i < n; i++) {
                int a = Math.max(from, start[i]), b = Math.min(to, start[i + 1]);
                if (a < b) ms[i].rows(a - start[i], b - start[i], x, prepared[i], outs[i], a - start[i]);
            }
        });
    }

    /** out[r] = silu(gate[r] . x) * (up[r] . x), one token; one parallel region. */
    public static void swiglu(float[] x, WeightMatrix gate, WeightMatrix up, float[] out) {
        if (!(gate instanceof AbstractWeightMatrix g) || !(up instanceof AbstractWeightMatrix u) || g.rows != u.rows) {
            float[] h = new float[up.rows()];
            gate.matmul(x, out, 1);
            up.matmul(x, h, 1);
            for (int i = 0; i < h.length; i++) out[i] = silu(out[i]) * h[i];
            return;
        }
        check(g, x, out);
        check(u, x, out);
        Object[] prepared = prepare(new AbstractWeightMatrix[] {g, u}, x);
        Parallel.forRange(g.rows, Math.min(g.rowGrain(), u.rowGrain()), (from, to) -> {
            float[] h = new float[to - from];
            g.rows(from, to, x, prepared[0], out, from);
            u.rows(from, to, x, prepared[1], h, 0);
            for (int r = from; r < to; r++) out[r] = silu(out[r]) * h[r - from];
        });
    }

    /** The same formula as the batched path of {@link dev.starattn.model.DecoderModel}, so both round alike. */
    private static float silu(float a) {
        return a / (1f + (float) Math.exp(-a));
    }

    private static Object[] prepare(AbstractWeightMatrix[] ms, float[] x) {
        Object[] prepared = new Object[ms.length];
        for (int i = 0; i < ms.length; i++) {
            prepared[i] = null;
            boolean shared = false;
            for (int j = 0; j < i && !shared; j++) {
                if (ms[j].getClass() == ms[i].getClass() && ms[j].cols == ms[i].cols) {
                    prepared[i] = prepared[j];
                    shared = true;
                }
            }
            if (!shared) prepared[i] = ms[i].prepareVector(x);
        }
        return prepared;
    }

    private static void check(AbstractWeightMatrix m, float[] x, float[] out) {
        if (x.length < m.cols) throw new IllegalArgumentException("x has " + x.length + " floats, need " + m.cols);
        if (out.length < m.rows) throw new IllegalArgumentException("out has " + out.length + " floats, need " + m.rows);
    }
}
