package dev.starattn.cluster;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.starattn.cluster.proto.Wire;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Float arrays on the wire: little-endian f32, or bf16 (the high half of an f32, rounded to
 * nearest even) which halves phase-2 traffic at about 3 significant digits.
 */
public final class WireCodec {
    private WireCodec() {}

    public static ByteString encode(float[] v, Wire wire) {
        return wire == Wire.BF16 ? bf16(v) : f32(v);
    }

    public static float[] decode(ByteString b, Wire wire, int expected, String what) {
        int width = wire == Wire.BF16 ? 2 : 4;
        if (b.size() != (long) expected * width) {
            throw new IllegalArgumentException(what + " holds " + b.size() + " bytes, expected " + expected
                    + " values of " + width + " bytes");
        }
        return wire == Wire.BF16 ? fromBf16(b) : fromF32(b);
    }

    public static ByteString f32(float[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(v);
        return UnsafeByteOperations.unsafeWrap(buf.array());
    }

    public static float[] fromF32(ByteString b) {
        float[] v = new float[b.size() / 4];
        b.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }

    public static ByteString bf16(float[] v) {
        byte[] out = new byte[v.length * 2];
        for (int i = 0; i < v.length; i++) {
            short h = toBf16(v[i]);
            out[2 * i] = (byte) h;
            out[2 * i + 1] = (byte) (h >>> 8);
        }
        return UnsafeByteOperations.unsafeWrap(out);
    }

    public static float[] fromBf16(ByteString b) {
        float[] v = new float[b.size() / 2];
        ByteBuffer buf = b.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) v[i] = Float.intBitsToFloat((buf.getShort() & 0xffff) << 16);
        return v;
    }

    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40); // keep it a (quiet) NaN
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }
}
