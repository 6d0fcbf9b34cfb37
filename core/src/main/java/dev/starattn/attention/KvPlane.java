package dev.starattn.attention;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The keys or the values of one {@link KvCache}: rows of {@code rowSize} elements stored as f32,
 * f16 or Q8_0. Writes quantize, reads dequantize to f32; copies between planes of one type are
 * bit for bit.
 */
abstract sealed class KvPlane {
    final int rowSize;

    KvPlane(int rowSize) {
        this.rowSize = rowSize;
    }

    static KvPlane of(KvType t, int rowSize, int rows) {
        return switch (t) {
            case F32 -> new F32(rowSize, rows);
            case F16 -> new F16(rowSize, rows);
            case Q8_0 -> new Q8(rowSize, rows);
        };
    }

    abstract KvType type();

    abstract void grow(int rows);

    /** Stores {@code count} rows of f32 {@code src} (from element {@code srcOff}) at row {@code dstRow}. */
    abstract void write(float[] src, int srcOff, int dstRow, int count);

    /** Copies rows [from, from+count) of {@code other} (same type and row size) to row {@code dstRow}. */
    abstract void copy(KvPlane other, int from, int dstRow, int count);

    /** Dequantizes elements [col, col+n) of {@code row} into {@code dst[dstOff..]}. */
    abstract void read(int row, int col, int n, float[] dst, int dstOff);

    /** Serializes rows [0, rows) (little-endian). */
    abstract void save(ByteBuffer out, int rows);

    /** Deserializes {@code rows} rows written by {@link #save} into rows [0, rows). */
    abstract void load(ByteBuffer in, int rows);

    /** Elements of {@code rows} rows as an array length, refused in one sentence past a Java array's limit (never wrapped). */
    int len(int rows) {
        return KvSizes.arrayLength(rows, rowSize, "a KV cache layer on the CPU");
    }

    long bytes(int rows) {
        return rows * type().rowBytes(rowSize);
    }

    static final class F32 extends KvPlane {
        float[] a;

        F32(int rowSize, int rows) {
            super(rowSize);
            a = new float[len(rows)];
        }

        KvType type() { return KvType.F32; }

        void grow(int rows) { a = Arrays.copyOf(a, len(rows)); }

        void write(float[] src, int srcOff, int dstRow, int count) {
            System.arraycopy(src, srcOff, a, dstRow * rowSize, count * rowSize);
        }

        void copy(KvPlane other, int from, int dstRow, int count) {
            System.arraycopy(((F32) other).a, from * rowSize, a, dstRow * rowSize, count * rowSize);
        }

        void read(int row, int col, int n, float[] dst, int dstOff) {
            System.arraycopy(a, row * rowSize + col, dst, dstOff, n);
        }

        void save(ByteBuffer out, int rows) {
            out.asFloatBuffer().put(a, 0, rows * rowSize);
            out.position(out.position() + rows * rowSize * 4);
        }

        void load(ByteBuffer in, int rows) {
            in.asFloatBuffer().get(a, 0, rows * rowSize);
            in.position(in.position() + rows * rowSize * 4);
        }
    }

    static final class F16 extends KvPlane {
        short[] a;

        F16(int rowSize, int rows) {
            super(rowSize);
            a = new short[len(rows)];
        }

        KvType type() { return KvType.F16; }

        void grow(int rows) { a = Arrays.copyOf(a, len(rows)); }

        void write(float[] src, int srcOff, int dstRow, int count) {
            int dst = dstRow * rowSize;
            for (int i = 0; i < count * rowSize; i++) a[dst + i] = Float.floatToFloat16(src[srcOff + i]);
        }

        void copy(KvPlane other, int from, int dstRow, int count) {
            System.arraycopy(((F16) other).a, from * rowSize, a, dstRow * rowSize, count * rowSize);
        }

        void read(int row, int col, int n, float[] dst, int dstOff) {
            dev.starattn.cpu.VectorOps.halfToFloat(a, row * rowSize + col, dst, dstOff, n);
        }

        void save(ByteBuffer out, int rows) {
            out.asShortBuffer().put(a, 0, rows * rowSize);
            out.position(out.position() + rows * rowSize * 2);
        }

        void load(ByteBuffer in, int rows) {
            in.asShortBuffer().get(a, 0, rows * rowSize);
            in.position(in.position() + rows * rowSize * 2);
        }
    }

    /** GGML Q8_0 per row: blocks of 32 elements, one f16 scale each. */
    static final class Q8 extends KvPlane {
        final int blocksPerRow;
        byte[] q;
        short[] d;

        Q8(int rowSize, int rows) {
            super(rowSize);
            blocksPerRow = KvType.q8Blocks(rowSize);
            q = new byte[len(rows)];
            d = new short[rows * blocksPerRow];
        }

        KvType type() { return KvType.Q8_0; }

        void grow(int rows) {
            q = Arrays.copyOf(q, len(rows));
            d = Arrays.copyOf(d, rows * blocksPerRow);
        }

        void write(float[] src, int srcOff, int dstRow, int count) {
            for (int r = 0; r < count; r++) {
                int s = srcOff + r * rowSize, row = dstRow + r;
                for (int b = 0; b < blocksPerRow; b++) {
                    int c0 = b * KvType.Q8_BLOCK, c1 = Math.min(rowSize, c0 + KvType.Q8_BLOCK);
                    float amax = 0;
                    for (int c = c0; c < c1; c++) amax = Math.max(amax, Math.abs(src[s + c]));
                    short dh = Float.floatToFloat16(amax / 127f);
                    float scale = Float.float16ToFloat(dh);
                    float inv = scale == 0f ? 0f : 1f / scale;
                    d[row * blocksPerRow + b] = dh;
                    int qo = row * rowSize;
                    for (int c = c0; c < c1; c++) {
                        int v = Math.round(src[s + c] * inv);
                        q[qo + c] = (byte) Math.max(-127, Math.min(127, v));
                    }
                }
            }
        }

        void copy(KvPlane other, int from, int dstRow, int count) {
            Q8 o = (Q8) other;
            System.arraycopy(o.q, from * rowSize, q, dstRow * rowSize, count * rowSize);
            System.arraycopy(o.d, from * blocksPerRow, d, dstRow * blocksPerRow, count * blocksPerRow);
        }

        void read(int row, int col, int n, float[] dst, int dstOff) {
            int qo = row * rowSize, bo = row * blocksPerRow;
            int c = col, end = col + n;
            while (c < end) {
                int b = c / KvType.Q8_BLOCK;
                int bEnd = Math.min(end, (b + 1) * KvType.Q8_BLOCK);
                float scale = Float.float16ToFloat(d[bo + b]);
                for (; c < bEnd; c++) dst[dstOff + c - col] = scale * q[qo + c];
            }
        }

        void save(ByteBuffer out, int rows) {
            out.put(q, 0, rows * rowSize);
            out.asShortBuffer().put(d, 0, rows * blocksPerRow);
            out.position(out.position() + rows * blocksPerRow * 2);
        }

        void load(ByteBuffer in, int rows) {
            in.get(q, 0, rows * rowSize);
            in.asShortBuffer().get(d, 0, rows * blocksPerRow);
            in.position(in.position() + rows * blocksPerRow * 2);
        }
    }
}
