package dev.starattn.format.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One {@code .safetensors} file, memory-mapped whole through FFM. Tensors are keyed by their
 * names in the file (Hugging Face names); their {@link TensorRef#dims()} are GGUF-style, the
 * reverse of the safetensors shape ({@code dims[0]} = last dimension). Supported dtypes: F32, F16,
 * BF16. Tensor data is not necessarily aligned (safetensors only pads the header to 8 bytes).
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Largest JSON header accepted. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;
    private final Map<String, TensorRef> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private long dataOffset;
    private boolean closed;

    private SafetensorsFile(Path path, Arena arena, MemorySegment segment) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
    }

    public static SafetensorsFile open(Path path) {
        return dev.starattn.format.MappedFiles.mapAndParse(path, "safetensors", (arena, seg) -> {
            SafetensorsFile f = new SafetensorsFile(path, arena, seg);
            f.parse();
            return f;
        });
    }

    private ModelFormatException corrupt(String what) {
        return new ModelFormatException(path + " is not a valid safetensors file: " + what);
    }

    private static int dtypeSize(String dtype) {
        return switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> -1;
        };
    }

    private static GgmlType dtypeType(String dtype) {
        return switch (dtype) {
            case "F32" -> GgmlType.F32;
            case "F16" -> GgmlType.F16;
            case "BF16" -> GgmlType.BF16;
            default -> throw new IllegalArgumentException(dtype);
        };
    }

    private void parse() throws IOException {
        long size = segment.byteSize();
        if (size < 8) {
            throw new ModelFormatException(path + " is truncated: it has " + size + " bytes, less than the 8-byte safetensors header length.");
        }
        long n = segment.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > size - 8) {
            throw new ModelFormatException(path + " is truncated or not a safetensors file: its header claims "
                    + Long.toUnsignedString(n) + " bytes, but only " + (size - 8) + " bytes follow.");
        }
        if (n > MAX_HEADER_BYTES) {
            throw corrupt("its JSON header claims " + n + " bytes, more than the " + MAX_HEADER_BYTES + " starattn accepts.");
        }
        dataOffset = 8 + n;
        long dataSize = size - dataOffset;
        byte[] header = segment.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw corrupt("its header is not valid JSON (" + e.getOriginalMessage() + ").");
        }
        if (root == null || !root.isObject()) {
            throw corrupt("its header is not a JSON object.");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = root.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode t = e.getValue();
            if (name.equals("__metadata__")) {
                if (!t.isObject()) throw corrupt("__metadata__ is not an object.");
                t.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().isTextual() ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            if (!t.isObject()) throw corrupt("the entry of tensor '" + name + "' is not an object.");
            JsonNode dt = t.get("dtype"), shape = t.get("shape"), offs = t.get("data_offsets");
            if (dt == null || !dt.isTextual()) throw corrupt("tensor '" + name + "' has no dtype.");
            if (shape == null || !shape.isArray()) throw corrupt("tensor '" + name + "' has no shape.");
            if (offs == null || !offs.isArray() || offs.size() != 2 || !offs.get(0).canConvertToExactIntegral()
                    || !offs.get(1).canConvertToExactIntegral() || !offs.get(0).canConvertToLong() || !offs.get(1).canConvertToLong()) {
                throw corrupt("tensor '" + name + "' has no valid data_offsets [begin, end].");
            }
            String dtype = dt.asText();
            int esize = dtypeSize(dtype);
            if (esize < 0) {
                throw new ModelFormatException("tensor '" + name + "' in " + path + " has dtype " + dtype
                        + ", which starattn does not support (supported: F32, F16, BF16).");
            }
            if (shape.size() > 8) throw corrupt("tensor '" + name + "' has " + shape.size() + " dimensions.");
            long[] dims = new long[Math.max(1, shape.size())];
            dims[0] = 1;
            long elements = 1;
            for (int i = 0; i < shape.size(); i++) {
                JsonNode d = shape.get(i);
                if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.asLong() < 0) {
                    throw corrupt("tensor '" + name + "' has an invalid shape " + shape + ".");
                }
                long v = d.asLong();
                dims[shape.size() - 1 - i] = v;
                try {
                    elements = Math.multiplyExact(elements, v);
                } catch (ArithmeticException x) {
                    throw corrupt("tensor '" + name + "' has shape " + shape + ", whose element count overflows.");
                }
            }
            long begin = offs.get(0).asLong(), end = offs.get(1).asLong();
            if (begin < 0 || end < begin) {
                throw corrupt("tensor '" + name + "' has data_offsets " + offs + ", which are not an ascending pair.");
            }
            if (end > dataSize) {
                throw new ModelFormatException(path + " is truncated: tensor '" + name + "' has data_offsets " + offs
                        + ", past the end of its " + dataSize + " data bytes.");
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(elements, esize);
            } catch (ArithmeticException x) {
                throw corrupt("tensor '" + name + "' is too large.");
            }
            if (end - begin != bytes) {
                throw corrupt("tensor '" + name + "' (" + dtype + ", shape " + shape + ") needs " + bytes
                        + " bytes, but its data_offsets " + offs + " span " + (end - begin) + ".");
            }
            tensors.put(name, new TensorRef(name, dtypeType(dtype), dims, segment.asSlice(dataOffset + begin, bytes)));
        }
    }

    public Path path() { return path; }

    /** The header's {@code __metadata__} (string values), empty if absent. */
    public Map<String, String> metadata() { return Collections.unmodifiableMap(metadata); }

    /** Byte offset of the data section (8 + header length). */
    public long dataOffset() { return dataOffset; }

    /** Tensors by their names in the file, in header order. */
    public Map<String, TensorRef> tensorMap() { return Collections.unmodifiableMap(tensors); }

    public List<TensorRef> tensors() { return List.copyOf(tensors.values()); }

    public Optional<TensorRef> find(String name) { return Optional.ofNullable(tensors.get(name)); }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
