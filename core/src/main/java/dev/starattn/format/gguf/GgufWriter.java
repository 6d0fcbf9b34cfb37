package dev.starattn.format.gguf;

import dev.starattn.tensor.GgmlType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF files (v3 by default, v2 by option) for tests: metadata with GGUF types chosen from
 * the Java type (Integer INT32, Long INT64, Float FLOAT32, Double FLOAT64, Boolean BOOL, String,
 * String[], float[], double[], boolean[], int[] INT32, long[] INT64, Object[] array of arrays) or
 * given explicitly, and tensors as raw bytes with alignment padding. Hooks for writing broken
 * files: raw metadata payloads, raw tensor type ids and offsets, overridden counts.
 */
public final class GgufWriter {
    private record Kv(String key, GgufValueType type, Object value, byte[] raw, int rawTypeId) {}

    private record Tensor(String name, int typeId, long[] dims, byte[] data, Long offset) {}

    private int version = 3;
    private int alignment = 32;
    private final Map<String, Kv> kvs = new LinkedHashMap<>();
    private final List<Tensor> tensors = new ArrayList<>();
    private Long tensorCountOverride;
    private Long kvCountOverride;

    public GgufWriter version(int v) { this.version = v; return this; }

    /** Sets the alignment and writes general.alignment (UINT32). */
    public GgufWriter alignment(int a) {
        this.alignment = a;
        put("general.alignment", GgufValueType.UINT32, (long) a);
        return this;
    }

    /** Metadata with the GGUF type inferred from the Java type. */
    public GgufWriter put(String key, Object value) {
        kvs.put(key, new Kv(key, infer(value), value, null, -1));
        return this;
    }

    /** Metadata with an explicit GGUF type; for arrays, {@code type} is the element type. */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        if (isArray(value)) {
            kvs.put(key, new Kv(key, GgufValueType.ARRAY, new TypedArray(type, value), null, -1));
        } else {
            kvs.put(key, new Kv(key, type, value, null, -1));
        }
        return this;
    }

    /** A metadata entry whose value type id and value bytes are written verbatim (for corrupt files). */
    public GgufWriter putRaw(String key, int typeId, byte[] payload) {
        kvs.put(key, new Kv(key, null, null, payload, typeId));
        return this;
    }

    public GgufWriter addTensor(String name, GgmlType type, long[] dims, byte[] data) {
        tensors.add(new Tensor(name, type.id, dims.clone(), data, null));
        return this;
    }

    /** A tensor with any type id and, if {@code offset != null}, a forced data offset (for corrupt files). */
    public GgufWriter addTensorRaw(String name, int typeId, long[] dims, byte[] data, Long offset) {
        tensors.add(new Tensor(name, typeId, dims.clone(), data, offset));
        return this;
    }

    public GgufWriter overrideTensorCount(long n) { tensorCountOverride = n; return this; }

    public GgufWriter overrideKvCount(long n) { kvCountOverride = n; return this; }

    private record TypedArray(GgufValueType elemType, Object array) {}

    private static boolean isArray(Object v) {
        return v != null && v.getClass().isArray();
    }

    private static GgufValueType infer(Object v) {
        return switch (v) {
            case Integer i -> GgufValueType.INT32;
            case Long l -> GgufValueType.INT64;
            case Float f -> GgufValueType.FLOAT32;
            case Double d -> GgufValueType.FLOAT64;
            case Boolean b -> GgufValueType.BOOL;
            case String s -> GgufValueType.STRING;
            case TypedArray t -> GgufValueType.ARRAY;
            default -> {
                if (isArray(v)) yield GgufValueType.ARRAY;
                throw new IllegalArgumentException("no GGUF type for " + v.getClass());
            }
        };
    }

    private static GgufValueType inferElem(Object arr) {
        return switch (arr) {
            case String[] a -> GgufValueType.STRING;
            case float[] a -> GgufValueType.FLOAT32;
            case double[] a -> GgufValueType.FLOAT64;
            case boolean[] a -> GgufValueType.BOOL;
            case int[] a -> GgufValueType.INT32;
            case long[] a -> GgufValueType.INT64;
            case Object[] a -> GgufValueType.ARRAY;
            default -> throw new IllegalArgumentException("no GGUF array type for " + arr.getClass());
        };
    }

    // ---------------------------------------------------------------- output

    private static final class Out {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        final ByteBuffer b8 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void u8(int v) { bytes.write(v); }
        void u16(int v) { b8.clear(); b8.putShort((short) v); bytes.write(b8.array(), 0, 2); }
        void u32(long v) { b8.clear(); b8.putInt((int) v); bytes.write(b8.array(), 0, 4); }
        void u64(long v) { b8.clear(); b8.putLong(v); bytes.write(b8.array(), 0, 8); }
        void f32(float v) { u32(Float.floatToRawIntBits(v)); }
        void f64(double v) { u64(Double.doubleToRawLongBits(v)); }
        void str(String s) { byte[] b = s.getBytes(StandardCharsets.UTF_8); u64(b.length); bytes.writeBytes(b); }
        void pad(int alignment) { while (bytes.size() % alignment != 0) bytes.write(0); }
    }

    private static void writeScalar(Out o, GgufValueType t, Object v) {
        switch (t) {
            case UINT8, INT8 -> o.u8(((Number) v).intValue());
            case UINT16, INT16 -> o.u16(((Number) v).intValue());
            case UINT32, INT32 -> o.u32(((Number) v).longValue());
            case UINT64, INT64 -> o.u64(((Number) v).longValue());
            case FLOAT32 -> o.f32(((Number) v).floatValue());
            case FLOAT64 -> o.f64(((Number) v).doubleValue());
            case BOOL -> o.u8((Boolean) v ? 1 : 0);
            case STRING -> o.str((String) v);
            case ARRAY -> writeArray(o, v);
        }
    }

    private static void writeArray(Out o, Object v) {
        GgufValueType et;
        Object arr;
        if (v instanceof TypedArray ta) {
            et = ta.elemType;
            arr = ta.array;
        } else {
            et = inferElem(v);
            arr = v;
        }
        o.u32(et.id);
        int n = java.lang.reflect.Array.getLength(arr);
        o.u64(n);
        for (int i = 0; i < n; i++) {
            writeScalar(o, et, java.lang.reflect.Array.get(arr, i));
        }
    }

    public byte[] toBytes() {
        Out o = new Out();
        o.u8('G'); o.u8('G'); o.u8('U'); o.u8('F');
        o.u32(version);
        o.u64(tensorCountOverride != null ? tensorCountOverride : tensors.size());
        o.u64(kvCountOverride != null ? kvCountOverride : kvs.size());
        for (Kv kv : kvs.values()) {
            o.str(kv.key);
            if (kv.raw != null) {
                o.u32(kv.rawTypeId);
                o.bytes.writeBytes(kv.raw);
            } else {
                o.u32(kv.type.id);
                writeScalar(o, kv.type, kv.value);
            }
        }
        long next = 0;
        long[] offsets = new long[tensors.size()];
        for (int i = 0; i < tensors.size(); i++) {
            Tensor t = tensors.get(i);
            offsets[i] = t.offset != null ? t.offset : next;
            if (t.offset == null) {
                next += t.data.length;
                next = (next + alignment - 1) / alignment * alignment;
            }
            o.str(t.name);
            o.u32(t.dims.length);
            for (long d : t.dims) o.u64(d);
            o.u32(t.typeId);
            o.u64(offsets[i]);
        }
        if (!tensors.isEmpty()) {
            o.pad(alignment);
            for (Tensor t : tensors) {
                if (t.offset != null) continue;
                o.bytes.writeBytes(t.data);
                o.pad(alignment);
            }
        }
        return o.bytes.toByteArray();
    }

    public Path write(Path path) {
        try {
            Files.write(path, toBytes());
            return path;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Little-endian bytes of the given longs (8 bytes each), for raw payloads. */
    public static byte[] le64(long... vs) {
        ByteBuffer b = ByteBuffer.allocate(8 * vs.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : vs) b.putLong(v);
        return b.array();
    }

    /** Little-endian bytes of the given ints (4 bytes each). */
    public static byte[] le32(int... vs) {
        ByteBuffer b = ByteBuffer.allocate(4 * vs.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : vs) b.putInt(v);
        return b.array();
    }

    public static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) o.writeBytes(p);
        return o.toByteArray();
    }
}
