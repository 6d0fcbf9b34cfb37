package dev.starattn.attention;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Keys and values of one layer held by one host, token-major: row {@code t} holds
 * {@code kvHeads * headDim} elements, with the token's position id beside it. Keys and values are
 * stored each in its own {@link KvType} (f32; f16 to halve the memory; q8_0 to about quarter it),
 * chosen independently. Positions need not be contiguous or sorted (star attention keeps original
 * position ids of scattered blocks); the attention kernel masks by position, never by index, and
 * reads tiles through {@link #keysTransposed}, {@link #keysTile} and {@link #valuesTile}, which
 * dequantize into its f32 scratch.
 */
public final class KvCache {
    private final int kvHeads;
    private final int headDim;
    private final int rowSize;
    private final KvPlane k;
    private final KvPlane v;
    private int[] positions;
    private int size;
    private int minPos = Integer.MAX_VALUE;
    private int maxPos = Integer.MIN_VALUE;

    public KvCache(int kvHeads, int headDim, int initialCapacity) {
        this(kvHeads, headDim, initialCapacity, KvType.F32);
    }

    public KvCache(int kvHeads, int headDim, int initialCapacity, KvType type) {
        this(kvHeads, headDim, initialCapacity, type, type);
    }

    public KvCache(int kvHeads, int headDim, int initialCapacity, KvType keyType, KvType valueType) {
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rowSize = kvHeads * headDim;
        int cap = Math.max(1, initialCapacity);
        this.k = KvPlane.of(keyType, rowSize, cap);
        this.v = KvPlane.of(valueType, rowSize, cap);
        this.positions = new int[cap];
    }

    /** The key type (equal to the value type unless they were chosen apart). */
    public KvType type() {
        return k.type();
    }

    public KvType keyType() {
        return k.type();
    }

    public KvType valueType() {
        return v.type();
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

    /** The f32 key storage (row-major, {@code size() * kvHeads * headDim} used); f32 keys only. */
    public float[] keys() {
        if (!(k instanceof KvPlane.F32 f)) throw new IllegalStateException("a " + k.type().cliName() + " cache has no f32 key array");
        return f.a;
    }

    /** The f32 value storage; f32 values only. */
    public float[] values() {
        if (!(v instanceof KvPlane.F32 f)) throw new IllegalStateException("a " + v.type().cliName() + " cache has no f32 value array");
        return f.a;
    }

    /** Keys of rows [from, from+n) as f32 (row-major, dequantized when stored otherwise). */
    public float[] keysF32(int from, int n) {
        return rowsF32(k, from, n);
    }

    /** Values of rows [from, from+n) as f32 (row-major, dequantized when stored otherwise). */
    public float[] valuesF32(int from, int n) {
        return rowsF32(v, from, n);
    }

    private float[] rowsF32(KvPlane p, int from, int n) {
        if (from < 0 || n < 0 || from + n > size) throw new IllegalArgumentException("rows " + from + "+" + n + " of " + size);
        float[] out = new float[n * rowSize];
        if (p instanceof KvPlane.F32 f) {
            System.arraycopy(f.a, from * rowSize, out, 0, n * rowSize);
        } else {
            for (int j = 0; j < n; j++) p.read(from + j, 0, rowSize, out, j * rowSize);
        }
        return out;
    }

    /** Key element (row, kv head, d) as f32, whatever the storage. */
    public float key(int row, int kvHead, int d) {
        float[] one = new float[1];
        k.read(row, kvHead * headDim + d, 1, one, 0);
        return one[0];
    }

    /** Value element (row, kv head, d) as f32, whatever the storage. */
    public float value(int row, int kvHead, int d) {
        float[] one = new float[1];
        v.read(row, kvHead * headDim + d, 1, one, 0);
        return one[0];
    }

    /**
     * Writes the keys of rows [from, from+n) for one kv head transposed into {@code kt}:
     * {@code kt[d * stride + j] = K[from + j][kvHead][d]}.
     */
    public void keysTransposed(int from, int n, int kvHead, float[] kt, int stride) {
        keysTransposed(from, n, kvHead, kt, stride, 0);
    }

    /** As {@link #keysTransposed(int, int, int, float[], int)}, writing from {@code kt[ktOff]} on. */
    public void keysTransposed(int from, int n, int kvHead, float[] kt, int stride, int ktOff) {
        int col = kvHead * headDim;
        if (k instanceof KvPlane.F32 f) {
            float[] keys = f.a;
            int off = from * rowSize + col;
            for (int j = 0; j < n; j++) {
                int src = off + j * rowSize;
                for (int d = 0; d < headDim; d++) kt[ktOff + d * stride + j] = keys[src + d];
            }
        } else if (k instanceof KvPlane.F16 h && NativeAttention.keysUsable()) {
            NativeAttention.keysTransposed(h.a, rowSize, from, n, col, headDim, kt, stride, ktOff);
        } else {
            float[] row = new float[headDim];
            for (int j = 0; j < n; j++) {
                k.read(from + j, col, headDim, row, 0);
                for (int d = 0; d < headDim; d++) kt[ktOff + d * stride + j] = row[d];
            }
        }
    }

    /** The value storage as it is kept: float[] for f32, short[] (halves) for f16; null for other types. */
    Object valuesRaw() {
        if (v instanceof KvPlane.F32 f) return f.a;
        if (v instanceof KvPlane.F16 h) return h.a;
        return null;
    }

    /** Floats (or halves) per cached row: kvHeads * headDim. */
    int rowSize() {
        return rowSize;
    }

    /** Writes the values of rows [from, from+n) for one kv head into {@code vt} as n rows of headDim. */
    public void valuesTile(int from, int n, int kvHead, float[] vt) {
        for (int j = 0; j < n; j++) v.read(from + j, kvHead * headDim, headDim, vt, j * headDim);
    }

    /** Writes the keys of rows [from, from+n) for one kv head into {@code kt} as n rows of headDim. */
    public void keysTile(int from, int n, int kvHead, float[] kt) {
        for (int j = 0; j < n; j++) k.read(from + j, kvHead * headDim, headDim, kt, j * headDim);
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

    /** Bytes the keys and values of this cache occupy (Q8_0 scales included). */
    public long bytes() {
        return k.bytes(size) + v.bytes(size);
    }

    /** Appends {@code count} rows taken from {@code k}/{@code v} starting at row {@code fromRow}. */
    public void append(float[] keys, float[] values, int fromRow, int count, int[] pos, int posOffset) {
        ensureCapacity(size + count);
        k.write(keys, fromRow * rowSize, size, count);
        v.write(values, fromRow * rowSize, size, count);
        addPositions(pos, posOffset, count);
    }

    private void addPositions(int[] pos, int posOffset, int count) {
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

    /** Appends rows [from, from+count) of another cache (same shape and types: copied bit for bit). */
    public void appendRange(KvCache other, int from, int count) {
        if (other.k.type() != k.type() || other.v.type() != v.type() || other.rowSize != rowSize) {
            throw new IllegalArgumentException("caches of different shapes or types");
        }
        ensureCapacity(size + count);
        k.copy(other.k, from, size, count);
        v.copy(other.v, from, size, count);
        addPositions(other.positions, from, count);
    }

    /** A copy holding the same rows (used to start a block's local cache from the anchor's). */
    public KvCache copy(int extraCapacity) {
        KvCache c = new KvCache(kvHeads, headDim, size + extraCapacity, k.type(), v.type());
        c.appendAll(this);
        return c;
    }

    /** A new cache holding rows [from, from+count) of this one, bit for bit. */
    public KvCache slice(int from, int count) {
        KvCache c = new KvCache(kvHeads, headDim, count, k.type(), v.type());
        c.appendRange(this, from, count);
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

    /** Bytes {@link #save} writes for {@code rows} rows of this shape and these types. */
    public static long serializedBytes(int kvHeads, int headDim, KvType keyType, KvType valueType, int rows) {
        int rs = kvHeads * headDim;
        return 4L * rows + rows * keyType.rowBytes(rs) + rows * valueType.rowBytes(rs);
    }

    /** Writes positions, keys and values of all rows (little-endian, the storage types as they are). */
    public void save(ByteBuffer out) {
        out.order(java.nio.ByteOrder.LITTLE_ENDIAN);
        out.asIntBuffer().put(positions, 0, size);
        out.position(out.position() + 4 * size);
        k.save(out, size);
        v.save(out, size);
    }

    /** Reads a cache of {@code rows} rows written by {@link #save}. */
    public static KvCache load(ByteBuffer in, int kvHeads, int headDim, KvType keyType, KvType valueType, int rows) {
        in.order(java.nio.ByteOrder.LITTLE_ENDIAN);
        KvCache c = new KvCache(kvHeads, headDim, rows, keyType, valueType);
        int[] pos = new int[rows];
        in.asIntBuffer().get(pos);
        in.position(in.position() + 4 * rows);
        c.k.load(in, rows);
        c.v.load(in, rows);
        c.addPositions(pos, 0, rows);
        return c;
    }

    /**
     * Makes room for {@code rows} rows in all, so that appending a prompt of known length copies
     * nothing: grown by halves as rows arrive, the superseded arrays came to about the cache's own
     * size again in garbage, promoted to the old generation and held there until a full collection.
     */
    public void reserve(int rows) {
        // Exactly: appends grow by half again, which for a cache reserved for a known length only wastes room.
        if (rows <= positions.length) return;
        k.grow(rows);
        v.grow(rows);
        positions = Arrays.copyOf(positions, rows);
    }

    private void ensureCapacity(int rows) {
        if (rows <= positions.length) return;
        int cap = KvSizes.grownCapacity(positions.length, rows, 3, 2, KvSizes.MAX_ARRAY / rowSize);
        k.grow(cap);
        v.grow(cap);
        positions = Arrays.copyOf(positions, cap);
    }
}
