package dev.starattn.attention;

/** Element type of a KV cache. The attention arithmetic and the merge are fp32 whatever it is. */
public enum KvType {
    F32(4),
    F16(2);

    public final int bytes;

    KvType(int bytes) {
        this.bytes = bytes;
    }

    public static KvType parse(String s) {
        return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> F32;
            case "f16" -> F16;
            default -> throw new IllegalArgumentException("unknown KV type '" + s + "' (use f32 or f16)");
        };
    }
}
