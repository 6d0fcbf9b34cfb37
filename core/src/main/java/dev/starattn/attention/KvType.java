package dev.starattn.attention;

/**
 * Element type of a KV cache. The attention arithmetic and the merge are fp32 whatever it is:
 * the kernel dequantizes tiles into f32 scratch.
 *
 * <ul>
 *   <li>{@code F32}: 4 bytes per element.</li>
 *   <li>{@code F16}: 2 bytes per element.</li>
 *   <li>{@code Q8_0}: as GGML's Q8_0: blocks of 32 consecutive elements of a row (the last block
 *       of a row may be shorter when the row is not a multiple of 32), each one f16 scale
 *       {@code d = max|x| / 127} and 32 signed bytes {@code q = round(x / d)}: 34 bytes per 32
 *       elements, 1.0625 bytes per element.</li>
 * </ul>
 */
public enum KvType {
    F32(4, 0),
    F16(2, 1),
    Q8_0(1, 2);

    /** Bytes per element, not counting Q8_0's block scales (see {@link #rowBytes(int)}). */
    public final int bytes;
    /** Stable id written into on-disk block files: never renumber. */
    public final int id;

    /** Elements per Q8_0 block. */
    public static final int Q8_BLOCK = 32;

    KvType(int bytes, int id) {
        this.bytes = bytes;
        this.id = id;
    }

    /** Exact bytes one row of {@code rowSize} elements occupies (scales included). */
    public long rowBytes(int rowSize) {
        return switch (this) {
            case F32 -> 4L * rowSize;
            case F16 -> 2L * rowSize;
            case Q8_0 -> rowSize + 2L * q8Blocks(rowSize);
        };
    }

    static int q8Blocks(int rowSize) {
        return (rowSize + Q8_BLOCK - 1) / Q8_BLOCK;
    }

    public String cliName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static KvType byId(int id) {
        for (KvType t : values()) if (t.id == id) return t;
        throw new IllegalArgumentException("unknown KV type id " + id);
    }

    public static KvType parse(String s) {
        return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> F32;
            case "f16" -> F16;
            case "q8_0", "q8" -> Q8_0;
            default -> throw new IllegalArgumentException("unknown KV type '" + s + "' (use f32, f16 or q8_0)");
        };
    }
}
