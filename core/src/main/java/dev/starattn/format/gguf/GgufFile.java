package dev.starattn.format.gguf;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.Printable;
import dev.starattn.format.TensorRef;
import dev.starattn.format.TensorSource;
import dev.starattn.tensor.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A GGUF model file (versions 2 and 3), memory-mapped whole through FFM. The header (metadata and
 * tensor infos) is parsed eagerly with every read bounds-checked; tensor data stays in the mapping
 * and is handed out as slices.
 *
 * <p>Metadata values in Java: UINT8/INT8/UINT16/INT16/INT32 as Integer; UINT32/INT64/UINT64 as
 * Long (UINT64 above 2^63 keeps its bit pattern); FLOAT32 Float; FLOAT64 Double; BOOL Boolean;
 * STRING String. Arrays: String[], float[], double[], boolean[], int[] (8/16-bit and INT32),
 * long[] (UINT32, INT64, UINT64), Object[] for arrays of arrays.
 */
public final class GgufFile implements TensorSource {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;
    private static final int MAX_DIMS = 4;
    private static final int MAX_ARRAY_NESTING = 8;
    private static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;
    private int version;
    private int alignment = DEFAULT_ALIGNMENT;
    private long dataOffset;
    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final Map<String, GgufValueType> metadataTypes = new LinkedHashMap<>();
    private final Map<String, TensorRef> tensors = new LinkedHashMap<>();
    private boolean closed;

    private GgufFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    /** Maps and parses a GGUF file; any problem with it is a {@link ModelFormatException} naming the file. */
    public static GgufFile open(Path path) {
        return dev.starattn.format.MappedFiles.mapAndParse(path, "GGUF", (arena, seg) -> {
            GgufFile f = new GgufFile(path, arena, seg);
            f.parse();
            return f;
        });
    }

    // ---------------------------------------------------------------- parsing

    private final class Reader {
        long pos;

        long remaining() {
            return segment.byteSize() - pos;
        }

        void need(long n, String what) {
            if (n < 0 || n > remaining()) {
                throw new ModelFormatException(path + " is truncated: reading " + what + " at byte " + pos
                        + " needs " + n + " bytes, but the file ends at byte " + segment.byteSize() + ".");
            }
        }

        int u8(String what) { need(1, what); return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, pos++)); }
        int i8(String what) { need(1, what); return segment.get(ValueLayout.JAVA_BYTE, pos++); }
        int u16(String what) { return Short.toUnsignedInt(i16raw(what)); }
        int i16(String what) { return i16raw(what); }
        private short i16raw(String what) { need(2, what); short v = segment.get(LE_SHORT, pos); pos += 2; return v; }
        int i32(String what) { need(4, what); int v = segment.get(LE_INT, pos); pos += 4; return v; }
        long u32(String what) { return Integer.toUnsignedLong(i32(what)); }
        long i64(String what) { need(8, what); long v = segment.get(LE_LONG, pos); pos += 8; return v; }
        float f32(String what) { need(4, what); float v = segment.get(LE_FLOAT, pos); pos += 4; return v; }
        double f64(String what) { need(8, what); double v = segment.get(LE_DOUBLE, pos); pos += 8; return v; }

        /** A count that must fit in the remaining bytes at {@code minBytesEach} bytes per item. */
        long count(String what, long minBytesEach) {
            long at = pos;
            long n = i64(what);
            long rem = remaining();
            if (n < 0 || (minBytesEach > 0 && n > rem / minBytesEach)) {
                throw new ModelFormatException(path + " is truncated or corrupt: " + what + " at byte " + at + " claims "
                        + Long.toUnsignedString(n) + " items, which need at least "
                        + (n < 0 ? "more" : String.valueOf(Math.multiplyHigh(n, minBytesEach) != 0 ? Long.MAX_VALUE : n * minBytesEach))
                        + " bytes, but only " + rem + " bytes remain in the file.");
            }
            return n;
        }

        String string(String what) {
            long len = count(what + " (string length)", 1);
            if (len > Integer.MAX_VALUE - 16) {
                throw new ModelFormatException(path + " is corrupt: " + what + " claims a string of " + len + " bytes, larger than any GGUF string can be.");
            }
            byte[] b = new byte[(int) len];
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, pos, b, 0, (int) len);
            pos += len;
            return new String(b, StandardCharsets.UTF_8);
        }
    }

    private void parse() {
        Reader r = new Reader();
        long size = segment.byteSize();
        if (size < 4) {
            byte[] head = new byte[(int) size];
            MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, 0, head, 0, (int) size);
            if (Arrays.equals(head, Arrays.copyOf("GGUF".getBytes(StandardCharsets.US_ASCII), (int) size))) {
                throw new ModelFormatException(path + " is truncated: it has only " + size + " bytes, not even a full GGUF header.");
            }
            throw new ModelFormatException(path + " is not a GGUF file (bad magic; the file has only " + size + " bytes).");
        }
        int magic = r.i32("magic");
        if (magic != MAGIC) {
            throw new ModelFormatException(path + " is not a GGUF file (bad magic).");
        }
        long v = r.u32("version");
        if (v == 1) {
            throw new ModelFormatException(path + " is GGUF version 1, which starattn does not read; convert it to GGUF v3 with a current llama.cpp.");
        }
        if (v != 2 && v != 3) {
            throw new ModelFormatException(path + " has GGUF version " + v + "; starattn reads versions 2 and 3 only.");
        }
        version = (int) v;
        // Minimal tensor info: name length 8 + n_dims 4 + one dim 8 + type 4 + offset 8.
        long nTensors = r.count("the tensor count", 32);
        // Minimal KV: key length 8 + value type 4 + one byte of value.
        long nKv = r.count("the metadata entry count", 13);

        for (long i = 0; i < nKv; i++) {
            String key = r.string("the key of metadata entry " + i);
            long typeAt = r.pos;
            long typeId = r.u32("the value type of metadata key " + Printable.quote(key));
            GgufValueType type = GgufValueType.byId(typeId);
            if (type == null) {
                throw new ModelFormatException(path + " is corrupt: metadata key " + Printable.quote(key) + " has unknown value type " + typeId + " (at byte " + typeAt + ").");
            }
            Object value = readValue(r, type, key, 0);
            if (metadata.containsKey(key)) {
                throw new ModelFormatException(path + " is corrupt: metadata key " + Printable.quote(key) + " appears twice.");
            }
            metadata.put(key, value);
            metadataTypes.put(key, type);
        }

        if (metadata.containsKey("general.alignment")) {
            long a = getLong("general.alignment");
            if (a <= 0 || a > (1 << 30) || Long.bitCount(a) != 1) {
                throw new ModelFormatException(path + " is corrupt: general.alignment is " + a + ", which is not a power of two.");
            }
            alignment = (int) a;
        }

        record Info(String name, long[] dims, int typeId, long offset) {}
        List<Info> infos = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            String name = r.string("the name of tensor " + i);
            long nDims = r.u32("the dimension count of tensor " + Printable.quote(name));
            if (nDims < 1 || nDims > MAX_DIMS) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(name) + " claims " + nDims + " dimensions; GGUF tensors have 1 to " + MAX_DIMS + ".");
            }
            long[] dims = new long[(int) nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                dims[d] = r.i64("dimension " + d + " of tensor " + Printable.quote(name));
                if (dims[d] <= 0) {
                    throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(name) + " has dimension " + d + " = "
                            + Long.toUnsignedString(dims[d]) + "; every dimension must be positive.");
                }
                long prev = elements;
                elements *= dims[d];
                if (Math.multiplyHigh(prev, dims[d]) != 0 || elements < 0) {
                    throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(name) + " has shape " + Arrays.toString(dims)
                            + ", whose element count overflows 64 bits.");
                }
            }
            int typeId = r.i32("the type of tensor " + Printable.quote(name));
            long offset = r.i64("the data offset of tensor " + Printable.quote(name));
            infos.add(new Info(name, dims, typeId, offset));
        }
        dataOffset = alignUp(r.pos, alignment);

        for (Info info : infos) {
            if (tensors.containsKey(info.name)) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(info.name) + " appears twice.");
            }
            GgmlType type = GgmlType.byId(info.typeId);
            if (type == null) {
                String supported = Arrays.stream(GgmlType.values()).map(Enum::name).collect(Collectors.joining(", "));
                throw new ModelFormatException("tensor " + Printable.quote(info.name) + " in " + path + " has type " + GgmlType.nameOf(info.typeId)
                        + ", which starattn does not support (supported: " + supported + ").");
            }
            if (info.dims[0] % type.blockSize != 0) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(info.name) + " has rows of " + info.dims[0]
                        + " elements, not a multiple of " + type.name() + "'s block size " + type.blockSize + ".");
            }
            long elements = 1;
            for (long d : info.dims) elements *= d;   // overflow already excluded
            long bytes;
            try {
                bytes = type.byteSize(elements);
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(info.name) + " is too large (" + elements + " elements).");
            }
            if (info.offset < 0 || info.offset % alignment != 0) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(info.name) + " has data offset " + Long.toUnsignedString(info.offset)
                        + ", which is not a multiple of the file's alignment " + alignment + ".");
            }
            long start = dataOffset + info.offset;
            if (start < 0 || start > size || bytes > size - start) {
                throw new ModelFormatException(path + " is truncated: tensor " + Printable.quote(info.name) + " (" + type + ", " + bytes
                        + " bytes at data offset " + info.offset + ") extends past the end of the file (" + size + " bytes).");
            }
            tensors.put(info.name, new TensorRef(info.name, type, info.dims, segment.asSlice(start, bytes)));
        }
        checkDataLayout(size);
    }

    /**
     * Writers lay tensor data out back to back, each tensor padded to the alignment, up to the end of
     * the file. A hole, an overlap or bytes left over at the end mean the header does not describe
     * the data: typically a tensor count that leaves a tensor out, which moves the data section's
     * start into the header so that every tensor would be read at a shifted offset.
     */
    private void checkDataLayout(long size) {
        if (tensors.isEmpty()) return;
        List<TensorRef> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort((a, b) -> Long.compare(a.data().address(), b.data().address()));
        long base = segment.address() + dataOffset;
        long expected = 0;
        String previous = null;
        for (TensorRef t : byOffset) {
            long off = t.data().address() - base;
            if (off < expected) {
                throw new ModelFormatException(path + " is corrupt: tensor " + Printable.quote(t.name()) + " at data offset " + off
                        + " overlaps tensor " + Printable.quote(previous) + ", which ends at " + expected + ".");
            }
            if (off - expected >= alignment) {
                throw new ModelFormatException(path + " is corrupt: " + (off - expected) + " bytes of tensor data before tensor "
                        + Printable.quote(t.name()) + " belong to no tensor; the header's tensor count (" + tensors.size()
                        + ") or offsets do not match the data.");
            }
            expected = off + t.data().byteSize();
            previous = t.name();
        }
        long trailing = size - dataOffset - expected;
        if (trailing >= alignment) {
            throw new ModelFormatException(path + " is corrupt: " + trailing + " bytes after the last tensor's data belong to no tensor;"
                    + " the header's tensor count (" + tensors.size() + ") does not match the data.");
        }
    }

    private Object readValue(Reader r, GgufValueType type, String key, int depth) {
        String what = "the value of metadata key " + Printable.quote(key);
        return switch (type) {
            case UINT8 -> r.u8(what);
            case INT8 -> r.i8(what);
            case UINT16 -> r.u16(what);
            case INT16 -> r.i16(what);
            case UINT32 -> r.u32(what);
            case INT32 -> r.i32(what);
            case FLOAT32 -> r.f32(what);
            case BOOL -> r.u8(what) != 0;
            case STRING -> r.string(what);
            case UINT64, INT64 -> r.i64(what);
            case FLOAT64 -> r.f64(what);
            case ARRAY -> readArray(r, key, depth);
        };
    }

    private Object readArray(Reader r, String key, int depth) {
        if (depth >= MAX_ARRAY_NESTING) {
            throw new ModelFormatException(path + " is corrupt: metadata key " + Printable.quote(key) + " nests arrays more than " + MAX_ARRAY_NESTING + " deep.");
        }
        String what = "the array of metadata key " + Printable.quote(key);
        long et = r.u32("the element type of " + what);
        GgufValueType type = GgufValueType.byId(et);
        if (type == null) {
            throw new ModelFormatException(path + " is corrupt: metadata key " + Printable.quote(key) + " is an array of unknown type " + et + ".");
        }
        long n = r.count("the length of " + what, type.minBytes());
        if (n > Integer.MAX_VALUE - 16) {
            throw new ModelFormatException(path + " is corrupt: metadata key " + Printable.quote(key) + " claims an array of " + n + " elements, more than starattn can hold.");
        }
        int len = (int) n;
        switch (type) {
            case UINT8, INT8, UINT16, INT16, INT32 -> {
                int[] a = new int[len];
                for (int i = 0; i < len; i++) a[i] = (Integer) readValue(r, type, key, depth);
                return a;
            }
            case UINT32, INT64, UINT64 -> {
                long[] a = new long[len];
                for (int i = 0; i < len; i++) a[i] = (Long) readValue(r, type, key, depth);
                return a;
            }
            case FLOAT32 -> {
                float[] a = new float[len];
                for (int i = 0; i < len; i++) a[i] = r.f32(what);
                return a;
            }
            case FLOAT64 -> {
                double[] a = new double[len];
                for (int i = 0; i < len; i++) a[i] = r.f64(what);
                return a;
            }
            case BOOL -> {
                boolean[] a = new boolean[len];
                for (int i = 0; i < len; i++) a[i] = r.u8(what) != 0;
                return a;
            }
            case STRING -> {
                String[] a = new String[len];
                for (int i = 0; i < len; i++) a[i] = r.string("element " + i + " of " + what);
                return a;
            }
            case ARRAY -> {
                Object[] a = new Object[len];
                for (int i = 0; i < len; i++) a[i] = readArray(r, key, depth + 1);
                return a;
            }
        }
        throw new AssertionError(type);
    }

    private static long alignUp(long x, long a) {
        return (x + a - 1) / a * a;
    }

    // ---------------------------------------------------------------- header facts

    public Path path() { return path; }

    /** GGUF version, 2 or 3. */
    public int version() { return version; }

    public int alignment() { return alignment; }

    /** Byte offset in the file where the tensor data section starts. */
    public long dataOffset() { return dataOffset; }

    /** The whole mapped file. */
    public MemorySegment segment() { return segment; }

    // ---------------------------------------------------------------- metadata

    /** All metadata, in file order, unmodifiable. */
    public Map<String, Object> metadata() { return Collections.unmodifiableMap(metadata); }

    /** The GGUF value type a key was stored with (for arrays: ARRAY). */
    public Optional<GgufValueType> valueType(String key) { return Optional.ofNullable(metadataTypes.get(key)); }

    public boolean has(String key) { return metadata.containsKey(key); }

    public Optional<Object> get(String key) { return Optional.ofNullable(metadata.get(key)); }

    private Object required(String key) {
        Object v = metadata.get(key);
        if (v == null) throw new ModelFormatException("metadata key " + Printable.quote(key) + " is missing from " + path + ".");
        return v;
    }

    private ModelFormatException wrongType(String key, String expected) {
        GgufValueType t = metadataTypes.get(key);
        Object v = metadata.get(key);
        String actual = t == GgufValueType.ARRAY ? "an array (" + v.getClass().getSimpleName() + ")" : String.valueOf(t);
        return new ModelFormatException("metadata key " + Printable.quote(key) + " in " + path + " is " + actual + ", expected " + expected + ".");
    }

    public String getString(String key) {
        return asString(key, required(key));
    }

    public String getString(String key, String dflt) {
        Object v = metadata.get(key);
        return v == null ? dflt : asString(key, v);
    }

    private String asString(String key, Object v) {
        if (v instanceof String s) return s;
        throw wrongType(key, "a string");
    }

    /** Any integer type, range-checked to int. */
    public int getInt(String key) {
        return asInt(key, required(key));
    }

    public int getInt(String key, int dflt) {
        Object v = metadata.get(key);
        return v == null ? dflt : asInt(key, v);
    }

    private int asInt(String key, Object v) {
        long l = asLong(key, v);
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
            throw new ModelFormatException("metadata key " + Printable.quote(key) + " in " + path + " is " + Long.toUnsignedString(l)
                    + (metadataTypes.get(key) == GgufValueType.UINT64 && l < 0 ? "" : "") + ", which does not fit in a 32-bit int.");
        }
        return (int) l;
    }

    /** Any integer type; a UINT64 at or above 2^63 is an error. */
    public long getLong(String key) {
        return asLong(key, required(key));
    }

    public long getLong(String key, long dflt) {
        Object v = metadata.get(key);
        return v == null ? dflt : asLong(key, v);
    }

    private long asLong(String key, Object v) {
        if (v instanceof Integer i) return i;
        if (v instanceof Long l) {
            if (l < 0 && metadataTypes.get(key) == GgufValueType.UINT64) {
                throw new ModelFormatException("metadata key " + Printable.quote(key) + " in " + path + " is " + Long.toUnsignedString(l)
                        + ", which does not fit in a signed 64-bit long.");
            }
            return l;
        }
        throw wrongType(key, "an integer");
    }

    /** Any numeric type, converted to float. */
    public float getFloat(String key) {
        return asFloat(key, required(key));
    }

    public float getFloat(String key, float dflt) {
        Object v = metadata.get(key);
        return v == null ? dflt : asFloat(key, v);
    }

    private float asFloat(String key, Object v) {
        if (v instanceof Float f) return f;
        if (v instanceof Double d) return d.floatValue();
        if (v instanceof Integer || v instanceof Long) return asLong(key, v);
        throw wrongType(key, "a number");
    }

    public boolean getBool(String key) {
        return asBool(key, required(key));
    }

    public boolean getBool(String key, boolean dflt) {
        Object v = metadata.get(key);
        return v == null ? dflt : asBool(key, v);
    }

    private boolean asBool(String key, Object v) {
        if (v instanceof Boolean b) return b;
        throw wrongType(key, "a bool");
    }

    public String[] getStringArray(String key) {
        return asStringArray(key, required(key));
    }

    public Optional<String[]> findStringArray(String key) {
        Object v = metadata.get(key);
        return v == null ? Optional.empty() : Optional.of(asStringArray(key, v));
    }

    private String[] asStringArray(String key, Object v) {
        if (v instanceof String[] a) return a;
        throw wrongType(key, "an array of strings");
    }

    /** A FLOAT32 array; FLOAT64 and integer arrays are converted. */
    public float[] getFloatArray(String key) {
        return asFloatArray(key, required(key));
    }

    public Optional<float[]> findFloatArray(String key) {
        Object v = metadata.get(key);
        return v == null ? Optional.empty() : Optional.of(asFloatArray(key, v));
    }

    private float[] asFloatArray(String key, Object v) {
        if (v instanceof float[] a) return a;
        if (v instanceof double[] a) {
            float[] r = new float[a.length];
            for (int i = 0; i < a.length; i++) r[i] = (float) a[i];
            return r;
        }
        if (v instanceof int[] a) {
            float[] r = new float[a.length];
            for (int i = 0; i < a.length; i++) r[i] = a[i];
            return r;
        }
        if (v instanceof long[] a) {
            float[] r = new float[a.length];
            for (int i = 0; i < a.length; i++) r[i] = a[i];
            return r;
        }
        throw wrongType(key, "an array of numbers");
    }

    /** Any integer array, range-checked to int. */
    public int[] getIntArray(String key) {
        return asIntArray(key, required(key));
    }

    public Optional<int[]> findIntArray(String key) {
        Object v = metadata.get(key);
        return v == null ? Optional.empty() : Optional.of(asIntArray(key, v));
    }

    private int[] asIntArray(String key, Object v) {
        if (v instanceof int[] a) return a;
        if (v instanceof long[] a) {
            int[] r = new int[a.length];
            for (int i = 0; i < a.length; i++) {
                if (a[i] < Integer.MIN_VALUE || a[i] > Integer.MAX_VALUE) {
                    throw new ModelFormatException("metadata key " + Printable.quote(key) + " in " + path + " has element " + i + " = "
                            + a[i] + ", which does not fit in a 32-bit int.");
                }
                r[i] = (int) a[i];
            }
            return r;
        }
        throw wrongType(key, "an array of integers");
    }

    // ---------------------------------------------------------------- tensors

    /** All tensors in file order. */
    public List<TensorRef> tensors() { return List.copyOf(tensors.values()); }

    @Override
    public Optional<TensorRef> find(String ggufName) { return Optional.ofNullable(tensors.get(ggufName)); }

    @Override
    public TensorRef require(String ggufName) {
        TensorRef t = tensors.get(ggufName);
        if (t == null) throw new ModelFormatException("tensor " + Printable.quote(ggufName) + " is missing from " + path + ".");
        return t;
    }

    /** Unmaps the file; tensor data segments handed out become unusable. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + tensors.size() + " tensors, " + metadata.size() + " keys]";
    }
}
