package dev.starattn.attention;

/**
 * Size arithmetic of KV caches and activations, in 64 bits. A token count times a row width (kv heads x head
 * dim, or the model dim) passes 2^31 at a million tokens (1M x 2048 = 2^31), and times the layer count or the
 * element size well before: every such product is a {@code long} here, and what must fit an {@code int} (a
 * Java array, a kernel's int argument) is checked and refused in one sentence that names the memory, never
 * wrapped around. Pure functions, shared by the CPU caches ({@link KvCache}) and the GPU's (the cuda module's
 * DeviceKv and activations).
 */
public final class KvSizes {
    private KvSizes() {}

    /** The longest Java array the JVM hands out (a few elements below Integer.MAX_VALUE). */
    public static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static final double GIB = 1L << 30;

    /** {@code rows x rowSize} elements, exact (64-bit); negative inputs are refused. */
    public static long elements(long rows, long rowSize) {
        if (rows < 0 || rowSize < 0) throw new IllegalArgumentException("negative size: " + rows + " rows x " + rowSize);
        return Math.multiplyExact(rows, rowSize);
    }

    /** Bytes of {@code rows x rowSize} elements of {@code elemBytes} each. */
    public static long bytes(long rows, long rowSize, long elemBytes) {
        return Math.multiplyExact(elements(rows, rowSize), elemBytes);
    }

    /** Byte offset of row {@code row} in a row-major buffer of rows of {@code rowSize} elements of {@code elemBytes}. */
    public static long rowOffset(long row, long rowSize, long elemBytes) {
        return bytes(row, rowSize, elemBytes);
    }

    /**
     * K and V bytes of {@code tokens} tokens over {@code layers} layers, rows of {@code kvHeads x headDim} elements of
     * {@code elemBytes} each (positions not counted): what a host's cache of its share takes.
     */
    public static long kvBytes(long tokens, int layers, int kvHeads, int headDim, int elemBytes) {
        return Math.multiplyExact(2L * layers, bytes(tokens, (long) kvHeads * headDim, elemBytes));
    }

    /**
     * {@code rows x rowSize} as a Java array length, or an {@link IllegalArgumentException} that says what did not fit
     * and how many tokens would (a Java array holds at most {@link #MAX_ARRAY} elements).
     */
    public static int arrayLength(long rows, int rowSize, String what) {
        long n = elements(rows, rowSize);
        if (n > MAX_ARRAY) {
            throw new IllegalArgumentException(String.format(
                    "%s: %d tokens x %d values = %d elements, more than one Java array holds (%d); at most %d tokens fit, so split"
                            + " the context over more hosts", what, rows, rowSize, n, MAX_ARRAY, MAX_ARRAY / Math.max(1, rowSize)));
        }
        return (int) n;
    }

    /**
     * The capacity to grow to for {@code rows} rows from {@code capacity}: at least {@code rows}, else
     * {@code capacity x factorNum / factorDen} (amortized growth), never past {@code limit} unless {@code rows} is.
     * Computed in 64 bits, so a large capacity does not wrap around to a small or negative one.
     */
    public static int grownCapacity(int capacity, int rows, int factorNum, int factorDen, int limit) {
        if (rows <= capacity) return capacity;
        long grown = (long) capacity * factorNum / factorDen + 16;
        return (int) Math.max(rows, Math.min(grown, Math.max(limit, rows)));
    }

    /** {@code bytes} as GiB with two decimals, for messages. */
    public static String gib(long bytes) {
        return String.format("%.2f GiB", bytes / GIB);
    }
}
