package dev.starattn.testutil;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Writes small safetensors files for tests; hooks for broken headers. */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ObjectNode header = JSON.createObjectNode();
    private final ByteArrayOutputStream data = new ByteArrayOutputStream();
    private Long headerLengthOverride;

    /** A tensor; {@code shape} is the safetensors (row-major, slowest first) shape. */
    public SafetensorsWriter add(String name, String dtype, long[] shape, byte[] bytes) {
        long begin = data.size();
        data.writeBytes(bytes);
        return addRaw(name, dtype, shape, begin, data.size());
    }

    public SafetensorsWriter addF32(String name, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return add(name, "F32", shape, b.array());
    }

    /** A header entry with arbitrary offsets and no data written. */
    public SafetensorsWriter addRaw(String name, String dtype, long[] shape, long begin, long end) {
        ObjectNode t = header.putObject(name);
        t.put("dtype", dtype);
        ArrayNode s = t.putArray("shape");
        for (long d : shape) s.add(d);
        t.putArray("data_offsets").add(begin).add(end);
        return this;
    }

    public SafetensorsWriter metadata(Map<String, String> m) {
        ObjectNode md = header.putObject("__metadata__");
        m.forEach(md::put);
        return this;
    }

    public SafetensorsWriter overrideHeaderLength(long n) {
        headerLengthOverride = n;
        return this;
    }

    public byte[] toBytes() {
        return toBytes(header.toString());
    }

    public byte[] toBytes(String headerJson) {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data.size()).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLengthOverride != null ? headerLengthOverride : padded);
        b.put(h);
        for (int i = h.length; i < padded; i++) b.put((byte) ' ');
        b.put(data.toByteArray());
        return b.array();
    }

    public Path write(Path p) {
        try {
            Files.write(p, toBytes());
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
