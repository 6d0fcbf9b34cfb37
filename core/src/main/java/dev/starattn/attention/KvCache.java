package dev.starattn.attention;

import java.util.Arrays;

/**
 * Keys and values of one layer held by one host, token-major: row {@code t} holds
 * {@code kvHeads * headDim} floats, with the token's position id beside it. Positions need not be
 * contiguous or sorted (star attention keeps original position ids of scattered blocks); the
 * attention kernel masks by position, never by index.
 */
public final class KvCache {
    private final int kvHeads;
    private final int headDim;
    private final int rowSize;
    private float[] keys;
    private float[] values;
    private int[] positions;
    private int size;
    private int minPos = Integer.MAX_VALUE;
    private int maxPos = Integer.MIN_VALUE;

    public KvCache(int kvHeads, int headDim, int initialCapacity) {
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rowSize = kvHeads * headDim;
        int cap = Math.max(1, initialCapacity);
        this.keys = new float[cap * rowSize];
        this.values = new float[cap * rowSize];
        this.positions = new int[cap];
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

    public float[] keys() {
        return keys;
    }

    public float[] values() {
        return values;
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

    /** Bytes the keys and values of this cache occupy (f32). */
    public long bytes() {
        return (long) size * rowSize * 2 * Float.BYTES;
    }

    /** Appends {@code count} rows taken from {@code k}/{@code v} starting at row {@code fromRow}. */
    public void append(float[] k, float[] v, int fromRow, int count, int[] pos, int posOffset) {
        ensureCapacity(size + count);
        System.arraycopy(k, fromRow * rowSize, keys, size * rowSize, count * rowSize);
        System.arraycopy(v, fromRow * rowSize, values, size * rowSize, count * rowSize);
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
        append(other.keys, other.values, 0, other.size, other.positions, 0);
    }

    /** Appends rows [from, from+count) of another cache. */
    public void appendRange(KvCache other, int from, int count) {
        append(other.keys, other.values, from, count, other.positions, from);
    }

    /** A copy holding the same rows (used to start a block's local cache from the anchor's). */
    public KvCache copy(int extraCapacity) {
        KvCache c = new KvCache(kvHeads, headDim, size + extraCapacity);
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
        keys = Arrays.copyOf(keys, cap * rowSize);
        values = Arrays.copyOf(values, cap * rowSize);
        positions = Arrays.copyOf(positions, cap);
    }
}
