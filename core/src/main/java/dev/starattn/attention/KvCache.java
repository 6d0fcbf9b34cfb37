package dev.starattn.attention;

import java.util.Arrays;

/**
 * Keys and values of one layer held by one host, token-major: row {@code t} holds
 * {@code kvHeads * headDim} elements (f32, or f16 to halve the memory), with the token's position
 * id beside it. Positions need not be contiguous or sorted (star attention keeps original position
 * ids of scattered blocks); the attention kernel masks by position, never by index.
 */
public final class KvCache {
    private final int kvHeads;
    private final int headDim;
    private final int rowSize;
    private final KvType type;
    private float[] keys;      // F32 storage
    private float[] values;
    private short[] keysH;     // F16 storage
    private short[] valuesH;
    private int[] positions;
    private int size;
    private int minPos = Integer.MAX_VALUE;
    private int maxPos = Integer.MIN_VALUE;

    public KvCache(int kvHeads, int headDim, int initialCapacity) {
        this(kvHeads, headDim, initialCapacity, KvType.F32);
    }

    public KvCache(int kvHeads, int headDim, int initialCapacity, KvType type) {
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rowSize = kvHeads * headDim;
        this.type = type;
        int cap = Math.max(1, initialCapacity);
        if (type == KvType.F32) {
            this.keys = new float[cap * rowSize];
            this.values = new float[cap * rowSize];
        } else {
            this.keysH = new short[cap * rowSize];
            this.valuesH = new short[cap * rowSize];
        }
        this.positions = new int[cap];
    }

    public KvType type() {
        return type;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headDim() {
        return headDim;
    }

    public int size() {
        return size;
    }

    /** The f32 key storage (row-major, {@code size() * kvHeads * headDim} used); f32 caches only. */
    public float[] keys() {
        if (type != KvType.F32) throw new IllegalStateException("an f16 cache has no f32 key array");
        return keys;
    }

    /** The f32 value storage; f32 caches only. */
    public float[] values() {
        if (type != KvType.F32) throw new IllegalStateException("an f16 cache has no f32 value array");
        return values;
    }

    /** Key element (row, kv head, d) as f32, whatever the storage. */
    public float key(int row, int kvHead, int d) {
        int i = row * rowSize + kvHead * headDim + d;
        return type == KvType.F32 ? keys[i] : Float.float16ToFloat(keysH[i]);
    }

    /**
     * Writes the keys of rows [from, from+n) for one kv head transposed into {@code kt}:
     * {@code kt[d * stride + j] = K[from + j][kvHead][d]}.
     */
    public void keysTransposed(int from, int n, int kvHead, float[] kt, int stride) {
        int off = from * rowSize + kvHead * headDim;
        if (type == KvType.F32) {
            for (int j = 0; j < n; j++) {
                int src = off + j * rowSize;
                for (int d = 0; d < headDim; d++) kt[d * stride + j] = keys[src + d];
            }
        } else {
            for (int j = 0; j < n; j++) {
                int src = off + j * rowSize;
                for (int d = 0; d < headDim; d++) kt[d * stride + j] = Float.float16ToFloat(keysH[src + d]);
            }
        }
    }

    /** Writes the values of rows [from, from+n) for one kv head into {@code vt} as n rows of headDim. */
    public void valuesTile(int from, int n, int kvHead, float[] vt) {
        tile(values, valuesH, from, n, kvHead, vt);
    }

    /** Writes the keys of rows [from, from+n) for one kv head into {@code kt} as n rows of headDim. */
    public void keysTile(int from, int n, int kvHead, float[] kt) {
        tile(keys, keysH, from, n, kvHead, kt);
    }

    private void tile(float[] f32, short[] f16, int from, int n, int kvHead, float[] dst) {
        int off = from * rowSize + kvHead * headDim;
        if (type == KvType.F32) {
            for (int j = 0; j < n; j++) System.arraycopy(f32, off + j * rowSize, dst, j * headDim, headDim);
        } else {
            for (int j = 0; j < n; j++) {
                int src = off + j * rowSize;
                for (int d = 0; d < headDim; d++) dst[j * headDim + d] = Float.float16ToFloat(f16[src + d]);
            }
        }
    }

    public int[] positions() {
        return positions;
    }

    public int minPosition() {
        return minPos;
    }

    public int maxPosition() {
        return maxPos;
    }

    /** Bytes the keys and values of this cache occupy. */
    public long bytes() {
        return (long) size * rowSize * 2 * type.bytes;
    }

    /** Appends {@code count} rows taken from {@code k}/{@code v} starting at row {@code fromRow}. */
    public void append(float[] k, float[] v, int fromRow, int count, int[] pos, int posOffset) {
        ensureCapacity(size + count);
        if (type == KvType.F32) {
            System.arraycopy(k, fromRow * rowSize, keys, size * rowSize, count * rowSize);
            System.arraycopy(v, fromRow * rowSize, values, size * rowSize, count * rowSize);
        } else {
            int src = fromRow * rowSize, dst = size * rowSize;
            for (int i = 0; i < count * rowSize; i++) {
                keysH[dst + i] = Float.floatToFloat16(k[src + i]);
                valuesH[dst + i] = Float.floatToFloat16(v[src + i]);
            }
        }
        for (int i = 0; i < count; i++) {
            int p = pos[posOffset + i];
            positions[size + i] = p;
            minPos = Math.min(minPos, p);
            maxPos = Math.max(maxPos, p);
        }
        size += count;
    }

    /** Appends all rows of another cache (same shape). */
    public void appendAll(KvCache other) {
        appendRange(other, 0, other.size);
    }

    /** Appends rows [from, from+count) of another cache (same shape and type: copied bit for bit). */
    public void appendRange(KvCache other, int from, int count) {
        if (other.type != type || other.rowSize != rowSize) throw new IllegalArgumentException("caches of different shapes");
        ensureCapacity(size + count);
        if (type == KvType.F32) {
            System.arraycopy(other.keys, from * rowSize, keys, size * rowSize, count * rowSize);
            System.arraycopy(other.values, from * rowSize, values, size * rowSize, count * rowSize);
        } else {
            System.arraycopy(other.keysH, from * rowSize, keysH, size * rowSize, count * rowSize);
            System.arraycopy(other.valuesH, from * rowSize, valuesH, size * rowSize, count * rowSize);
        }
        for (int i = 0; i < count; i++) {
            int p = other.positions[from + i];
            positions[size + i] = p;
            minPos = Math.min(minPos, p);
            maxPos = Math.max(maxPos, p);
        }
        size += count;
    }

    /** A copy holding the same rows (used to start a block's local cache from the anchor's). */
    public KvCache copy(int extraCapacity) {
        KvCache c = new KvCache(kvHeads, headDim, size + extraCapacity, type);
        c.appendAll(this);
        return c;
    }

    /** Drops every row from {@code newSize} on (used to roll back a query from a reusable context). */
    public void truncate(int newSize) {
        if (newSize < 0 || newSize > size) throw new IllegalArgumentException("bad size " + newSize);
        size = newSize;
        minPos = Integer.MAX_VALUE;
        maxPos = Integer.MIN_VALUE;
        for (int i = 0; i < size; i++) {
            minPos = Math.min(minPos, positions[i]);
            maxPos = Math.max(maxPos, positions[i]);
        }
    }

    private void ensureCapacity(int rows) {
        if (rows <= positions.length) return;
        int cap = Math.max(rows, positions.length + (positions.length >> 1) + 16);
        if (type == KvType.F32) {
            keys = Arrays.copyOf(keys, cap * rowSize);
            values = Arrays.copyOf(values, cap * rowSize);
        } else {
            keysH = Arrays.copyOf(keysH, cap * rowSize);
            valuesH = Arrays.copyOf(valuesH, cap * rowSize);
        }
        positions = Arrays.copyOf(positions, cap);
    }
}
