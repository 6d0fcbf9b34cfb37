package dev.starattn.tensor;

import dev.starattn.cpu.Parallel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Shared machinery of the segment-backed weight matrices: argument checks, the batch-1 (decode)
 * path that runs a fused dequantize-and-dot per row, and the batched (prefill) path that
 * dequantizes strips of rows to a per-thread f32 scratch and multiplies them with {@link Gemm}, or
 * hands the batch to a native {@link GemmBackend} when {@link GemmBackends} has one for its size.
 */
abstract sealed class AbstractWeightMatrix implements WeightMatrix
        permits F32Matrix, F16Matrix, BF16Matrix, Q8_0Matrix, Q4_0Matrix, Q4KMatrix, Q6KMatrix {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int L = F.length();
    /** Shorts, one per float lane. */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    /** Bytes, one per float lane. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    /** Batches of at most this many tokens run the fused per-row path, larger ones the tiled one. */
    static final int FUSED_MAX_BATCH = dev.starattn.config.Switches.fusedMaxBatch();

    final MemorySegment seg;
    final int rows, cols;
    final long rowBytes;
    final GgmlType type;

    AbstractWeightMatrix(GgmlType type, MemorySegment seg, int rows, int cols) {
        this.type = type;
        this.seg = seg;
        this.rows = rows;
        this.cols = cols;
        this.rowBytes = type.byteSize(cols);
    }

    @Override public final int rows() { return rows; }
    @Override public final int cols() { return cols; }
    @Override public final GgmlType type() { return type; }

    /** dot(W[row], x[xOff .. xOff + cols)). {@code aux} is what {@link #prepare} returned for x. */
    abstract float dotRow(int row, float[] x, int xOff, float[] aux, int auxOff);

    /** Per-token side data for {@link #dotRow} (e.g. block sums of x); null when not needed. */
    float[] prepare(float[] x, int batch) {
        return null;
    }

    /** Floats of aux per token. */
    int auxStride() {
        return 0;
    }

    abstract void dequantizeRowUnchecked(int row, float[] dst, int offset);

    /**
     * What {@link #rows} needs of one token's activation x[0 .. cols): the block sums of
     * {@link #prepare} here, a quantized copy for an integer kernel. Computed once per product
     * and shared by the matrices of the same type and width that read the same x ({@link MatVec}).
     */
    Object prepareVector(float[] x) {
        return prepare(x, 1);
    }

    /** out[outOff + r - r0] = W[r] . x for rows [r0, r1), with {@code prepared} from {@link #prepareVector}. */
    void rows(int r0, int r1, float[] x, Object prepared, float[] out, int outOff) {
        float[] aux = (float[]) prepared;
        for (int r = r0; r < r1; r++) out[outOff + r - r0] = dotRow(r, x, 0, aux, 0);
    }

    /** Rows per parallel chunk of a batch-1 product: about 32 KB of weights, so a 256-row K or V projection uses every core. */
    final int rowGrain() {
        return Math.max(1, (int) Math.min(rows, (32L * 1024) / Math.max(1, rowBytes)));
    }

    @Override
    public final void dequantizeRow(int row, float[] dst, int offset) {
        Objects.checkIndex(row, rows);
        Objects.checkFromIndexSize(offset, cols, dst.length);
        dequantizeRowUnchecked(row, dst, offset);
    }

    @Override
    public final void matmul(float[] x, float[] out, int batch) {
        if (batch < 0) throw new IllegalArgumentException("negative batch " + batch);
        if (batch == 0) return;
        if ((long) batch * cols > x.length) {
            throw new IllegalArgumentException("x has " + x.length + " floats, need batch*cols = " + batch + "*" + cols);
        }
        if ((long) batch * rows > out.length) {
            throw new IllegalArgumentException("out has " + out.length + " floats, need batch*rows = " + batch + "*" + rows);
        }
        if (batch == 1) {
            Object prepared = prepareVector(x);
            Parallel.forRange(rows, rowGrain(), (from, to) -> rows(from, to, x, prepared, out, from));
        } else if (batch <= FUSED_MAX_BATCH) {
            float[] aux = prepare(x, batch);
            int auxStride = auxStride();
            // Small chunks (about 32 KB of weights) so that even a 256-row K or V projection uses every core.
            int grain = Math.max(1, (int) Math.min(rows, (32L * 1024) / Math.max(1, rowBytes)));
            Parallel.forRange(rows, grain, (from, to) -> {
                for (int t = 0; t < batch; t++) {
                    int xo = t * cols, oo = t * rows, ao = t * auxStride;
                    for (int r = from; r < to; r++) out[oo + r] = dotRow(r, x, xo, aux, ao);
                }
            });
        } else {
            GemmBackend nb = GemmBackends.forBatch(batch);
            if (nb != null && nb.matmul(this, x, out, batch)) return;
            int strips = (rows + Gemm.STRIP - 1) / Gemm.STRIP;
            Parallel.forRange(strips, 1, (from, to) -> {
                float[] w = Gemm.scratch(Gemm.STRIP * cols);
                for (int s = from; s < to; s++) {
                    int r0 = s * Gemm.STRIP;
                    int n = Math.min(Gemm.STRIP, rows - r0);
                    for (int i = 0; i < n; i++) dequantizeRowUnchecked(r0 + i, w, i * cols);
                    Gemm.stripTimesX(w, n, cols, x, batch, out, rows, r0);
                }
            });
        }
    }

    // ---- helpers shared by the formats ----

    static float half(MemorySegment seg, long off) {
        return Float.float16ToFloat(seg.get(SHORT_LE, off));
    }

    /** L halves (as shorts) to L floats, exact for every value including subnormals, inf and NaN. */
    static FloatVector halfToFloat(ShortVector h) {
        IntVector i = (IntVector) h.convertShape(jdk.incubator.vector.VectorOperators.S2I, I, 0);
        IntVector em = i.and(0x7FFF);
        IntVector sign = i.and(0x8000).lanewise(jdk.incubator.vector.VectorOperators.LSHL, 16);
        // Place exponent+mantissa in float position and rebias by multiplying by 2^112: exact for
        // normals and subnormals (the result is a normal float).
        FloatVector f = em.lanewise(jdk.incubator.vector.VectorOperators.LSHL, 13).reinterpretAsFloats()
                .mul(0x1p112f);
        var infNan = em.compare(jdk.incubator.vector.VectorOperators.GE, 0x7C00);
        IntVector bits = f.reinterpretAsInts();
        if (infNan.anyTrue()) {
            bits = bits.blend(em.lanewise(jdk.incubator.vector.VectorOperators.LSHL, 13).or(0x7F800000), infNan);
        }
        return bits.or(sign).reinterpretAsFloats();
    }

    /** L bfloat16 (as shorts) to L floats. */
    static FloatVector bf16ToFloat(ShortVector h) {
        IntVector i = (IntVector) h.convertShape(jdk.incubator.vector.VectorOperators.S2I, I, 0);
        return i.lanewise(jdk.incubator.vector.VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** L signed bytes to L floats. */
    static FloatVector bytesToFloat(ByteVector b) {
        return (FloatVector) b.convertShape(jdk.incubator.vector.VectorOperators.B2F, F, 0);
    }

    static ByteVector loadBytes(MemorySegment seg, long off) {
        return ByteVector.fromMemorySegment(B, seg, off, LE);
    }
}
