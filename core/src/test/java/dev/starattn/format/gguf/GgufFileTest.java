package dev.starattn.format.gguf;

import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.format.ModelFormatException;
import dev.starattn.format.TensorRef;
import dev.starattn.tensor.GgmlType;
import dev.starattn.format.gguf.GgufWriter;
import dev.starattn.tensor.Quantizers;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GgufFileTest {
    @TempDir Path dir;

    private static byte[] f32(float... xs) {
        return Quantizers.quantize(GgmlType.F32, xs);
    }

    private GgufWriter allTypes(int version) {
        return new GgufWriter().version(version)
                .put("u8", GgufValueType.UINT8, 200)
                .put("i8", GgufValueType.INT8, -5)
                .put("u16", GgufValueType.UINT16, 60000)
                .put("i16", GgufValueType.INT16, -30000)
                .put("u32", GgufValueType.UINT32, 4000000000L)
                .put("i32", -7)
                .put("f32", 1.5f)
                .put("bool", true)
                .put("str", "héllo ▁wörld")
                .put("u64", GgufValueType.UINT64, -1L)
                .put("i64", -9000000000L)
                .put("f64", 2.25)
                .put("a.str", new String[] {"a", "", "ü"})
                .put("a.f32", new float[] {1f, -2f})
                .put("a.f64", new double[] {3.0})
                .put("a.bool", new boolean[] {true, false})
                .put("a.u8", GgufValueType.UINT8, new int[] {255, 0})
                .put("a.i16", GgufValueType.INT16, new int[] {-2, 3})
                .put("a.i32", new int[] {1, 2, 3})
                .put("a.u32", GgufValueType.UINT32, new long[] {4000000000L, 1})
                .put("a.i64", new long[] {-1, 1L << 40})
                .put("a.nested", new Object[] {new int[] {1, 2}, new String[] {"x"}, new Object[] {new float[] {0.5f}}})
                .put("a.empty", new int[0]);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void readsEveryMetadataType(int version) {
        Path p = allTypes(version).write(dir.resolve("m.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(version, f.version());
            assertEquals(List.of("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64", "i64", "f64",
                    "a.str", "a.f32", "a.f64", "a.bool", "a.u8", "a.i16", "a.i32", "a.u32", "a.i64", "a.nested", "a.empty"),
                    List.copyOf(f.metadata().keySet()));
            var m = f.metadata();
            assertEquals(200, m.get("u8"));
            assertEquals(-5, m.get("i8"));
            assertEquals(60000, m.get("u16"));
            assertEquals(-30000, m.get("i16"));
            assertEquals(4000000000L, m.get("u32"));
            assertEquals(-7, m.get("i32"));
            assertEquals(1.5f, m.get("f32"));
            assertEquals(true, m.get("bool"));
            assertEquals("héllo ▁wörld", m.get("str"));
            assertEquals(-1L, m.get("u64"));
            assertEquals(-9000000000L, m.get("i64"));
            assertEquals(2.25, m.get("f64"));
            assertArrayEquals(new String[] {"a", "", "ü"}, (String[]) m.get("a.str"));
            assertArrayEquals(new float[] {1f, -2f}, (float[]) m.get("a.f32"));
            assertArrayEquals(new double[] {3.0}, (double[]) m.get("a.f64"));
            assertArrayEquals(new boolean[] {true, false}, (boolean[]) m.get("a.bool"));
            assertArrayEquals(new int[] {255, 0}, (int[]) m.get("a.u8"));
            assertArrayEquals(new int[] {-2, 3}, (int[]) m.get("a.i16"));
            assertArrayEquals(new int[] {1, 2, 3}, (int[]) m.get("a.i32"));
            assertArrayEquals(new long[] {4000000000L, 1}, (long[]) m.get("a.u32"));
            assertArrayEquals(new long[] {-1, 1L << 40}, (long[]) m.get("a.i64"));
            Object[] nested = (Object[]) m.get("a.nested");
            assertArrayEquals(new int[] {1, 2}, (int[]) nested[0]);
            assertArrayEquals(new String[] {"x"}, (String[]) nested[1]);
            assertArrayEquals(new float[] {0.5f}, (float[]) ((Object[]) nested[2])[0]);
            assertArrayEquals(new int[0], (int[]) m.get("a.empty"));
            assertTrue(f.tensors().isEmpty());
            assertEquals(GgufValueType.UINT32, f.valueType("u32").orElseThrow());
        }
    }

    @Test
    void typedGetters() {
        Path p = allTypes(3).write(dir.resolve("m.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(200, f.getInt("u8"));
            assertEquals(-30000, f.getInt("i16"));
            assertEquals(4000000000L, f.getLong("u32"));
            assertEquals(7, f.getInt("missing", 7));
            assertEquals(-7, f.getInt("i32", 7));
            assertEquals(1.5f, f.getFloat("f32"));
            assertEquals(2.25f, f.getFloat("f64"));
            assertEquals(200f, f.getFloat("u8"));
            assertEquals(0.5f, f.getFloat("missing", 0.5f));
            assertTrue(f.getBool("bool"));
            assertFalse(f.getBool("missing", false));
            assertEquals("héllo ▁wörld", f.getString("str"));
            assertEquals("d", f.getString("missing", "d"));
            assertEquals(-9000000000L, f.getLong("i64", 0));
            assertArrayEquals(new String[] {"a", "", "ü"}, f.getStringArray("a.str"));
            assertArrayEquals(new float[] {1f, -2f}, f.getFloatArray("a.f32"));
            assertArrayEquals(new float[] {3f}, f.getFloatArray("a.f64"));
            assertArrayEquals(new int[] {1, 2, 3}, f.getIntArray("a.i32"));
            assertArrayEquals(new int[] {255, 0}, f.getIntArray("a.u8"));
            assertArrayEquals(new int[] {-2, 3}, f.getIntArray("a.i16"));
            assertTrue(f.findIntArray("nope").isEmpty());
            assertTrue(f.findStringArray("a.str").isPresent());
            assertTrue(f.findFloatArray("a.f32").isPresent());
            assertTrue(f.has("u8"));
            assertFalse(f.has("nope"));

            assertBad(() -> f.getString("nope"), "metadata key \"nope\" is missing from", "m.gguf");
            assertBad(() -> f.getInt("str"), "metadata key \"str\"", "expected an integer");
            assertBad(() -> f.getInt("str", 3), "metadata key \"str\"", "expected an integer");
            assertBad(() -> f.getInt("u32"), "metadata key \"u32\"", "does not fit");
            assertBad(() -> f.getLong("u64"), "metadata key \"u64\"", "18446744073709551615");
            assertBad(() -> f.getString("u8"), "metadata key \"u8\"", "expected a string");
            assertBad(() -> f.getFloat("str"), "metadata key \"str\"", "expected a number");
            assertBad(() -> f.getBool("u8"), "metadata key \"u8\"", "expected a bool");
            assertBad(() -> f.getStringArray("a.i32"), "metadata key \"a.i32\"", "expected an array of strings");
            assertBad(() -> f.getIntArray("a.u32"), "metadata key \"a.u32\"", "does not fit");
            assertBad(() -> f.getIntArray("a.str"), "metadata key \"a.str\"", "expected an array of integers");
            assertBad(() -> f.getFloatArray("str"), "metadata key \"str\"", "expected an array of numbers");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {32, 64, 4096})
    void tensorsAreSlicesOfTheMapping(int alignment) {
        byte[] a = f32(1, 2, 3, 4, 5, 6);
        float[] bx = new float[64];
        for (int i = 0; i < 64; i++) bx[i] = i * 0.25f - 3;
        byte[] b = Quantizers.quantize(GgmlType.Q8_0, bx);
        Path p = new GgufWriter().alignment(alignment).put("general.architecture", "llama")
                .addTensor("a", GgmlType.F32, new long[] {3, 2}, a)
                .addTensor("b", GgmlType.Q8_0, new long[] {32, 2}, b)
                .write(dir.resolve("t.gguf"));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(alignment, f.alignment());
            assertEquals(0, f.dataOffset() % alignment);
            assertEquals(List.of("a", "b"), f.tensors().stream().map(TensorRef::name).toList());
            TensorRef ta = f.require("a");
            assertEquals(GgmlType.F32, ta.type());
            assertArrayEquals(new long[] {3, 2}, ta.dims());
            assertEquals(3, ta.cols());
            assertEquals(2, ta.rows());
            assertEquals(24, ta.data().byteSize());
            assertEquals(5f, ta.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 16));
            TensorRef tb = f.find("b").orElseThrow();
            assertEquals(GgmlType.Q8_0, tb.type());
            assertArrayEquals(b, tb.data().toArray(ValueLayout.JAVA_BYTE));
            assertEquals(0, (tb.data().address() - f.segment().address()) % alignment);
            assertTrue(f.find("c").isEmpty());
            assertBad(() -> f.require("blk.0.attn_q.weight"), "tensor \"blk.0.attn_q.weight\" is missing from", "t.gguf");
        }
    }

    @Test
    void closeIsIdempotentAndUnmaps() {
        Path p = new GgufWriter().addTensor("a", GgmlType.F32, new long[] {1}, f32(1)).write(dir.resolve("c.gguf"));
        GgufFile f = GgufFile.open(p);
        TensorRef t = f.require("a");
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> t.data().get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void fileLargerThan2GiB() throws Exception {
        // Sparse file: a 3 GiB hole, then one tensor beyond the 2 GiB mark.
        long hole = 3L << 30;
        byte[] head = new GgufWriter()
                .addTensorRaw("pad", GgmlType.F32.id, new long[] {hole / 4}, null, 0L)
                .addTensorRaw("far", GgmlType.F32.id, new long[] {4}, null, hole)
                .toBytes();
        Path p = dir.resolve("big.gguf");
        Files.write(p, head);
        long dataStart = (head.length + 31) / 32 * 32;
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(dataStart + hole + 16);
            raf.seek(dataStart + hole);
            raf.write(f32(1, 2, 3, 42));
        }
        try (GgufFile f = GgufFile.open(p)) {
            TensorRef t = f.require("far");
            assertEquals(42f, t.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 12));
            assertEquals(hole, f.require("pad").data().byteSize());
        }
    }

    // ------------------------------------------------------------ bad inputs

    private static ModelFormatException assertBad(Executable e, String... parts) {
        ModelFormatException x = assertThrows(ModelFormatException.class, e);
        for (String part : parts) {
            assertTrue(x.getMessage().contains(part), () -> "message <" + x.getMessage() + "> lacks <" + part + ">");
        }
        return x;
    }

    private ModelFormatException bad(byte[] bytes, String... parts) throws Exception {
        Path p = dir.resolve("bad.gguf");
        Files.write(p, bytes);
        String[] all = Arrays.copyOf(parts, parts.length + 1);
        all[parts.length] = "bad.gguf";
        return assertBad(() -> GgufFile.open(p).close(), all);
    }

    @Test
    void badMagic() throws Exception {
        byte[] b = new GgufWriter().toBytes();
        b[0] = 'X';
        bad(b, "is not a GGUF file (bad magic)");
        bad("PK\3\4 zip file".getBytes(), "is not a GGUF file (bad magic)");
        bad(new byte[] {'x'}, "is not a GGUF file (bad magic");
    }

    @Test
    void versions() throws Exception {
        bad(new GgufWriter().version(1).toBytes(), "GGUF version 1", "convert");
        bad(new GgufWriter().version(4).toBytes(), "GGUF version 4");
        bad(new GgufWriter().version(0).toBytes(), "GGUF version 0");
    }

    @Test
    void missingFile() {
        assertBad(() -> GgufFile.open(dir.resolve("nope.gguf")), "nope.gguf", "does not exist");
    }

    @Test
    void truncatedAnywhere() throws Exception {
        // Tensor sizes are multiples of the alignment, so the file has no trailing padding.
        byte[] full = allTypes(3).put("general.architecture", "llama")
                .addTensor("a", GgmlType.F32, new long[] {8}, f32(1, 2, 3, 4, 5, 6, 7, 8))
                .addTensor("b", GgmlType.F16, new long[] {16}, Quantizers.quantize(GgmlType.F16, new float[16]))
                .toBytes();
        try (GgufFile f = GgufFile.open(Files.write(dir.resolve("full.gguf"), full))) {
            assertEquals(2, f.tensors().size());
        }
        for (int n = 0; n < full.length; n++) {
            ModelFormatException e = bad(Arrays.copyOf(full, n), "is truncated");
            assertFalse(e.getCause() instanceof IndexOutOfBoundsException, e::getMessage);
        }
    }

    @Test
    void lyingTensorCount() throws Exception {
        bad(new GgufWriter().put("k", 1).overrideTensorCount(1L << 40).toBytes(), "claims 1099511627776 items", "tensor count");
        bad(new GgufWriter().overrideTensorCount(-1L).toBytes(), "tensor count", "18446744073709551615");
    }

    @Test
    void lyingMetadataCount() throws Exception {
        bad(new GgufWriter().put("k", 1).overrideKvCount(1L << 40).toBytes(), "claims 1099511627776 items", "metadata entry count");
    }

    @Test
    void lyingStringLength() throws Exception {
        // value string of 2^62 bytes
        bad(new GgufWriter().putRaw("s", GgufValueType.STRING.id, GgufWriter.concat(GgufWriter.le64(1L << 62), "abc".getBytes())).toBytes(),
                "\"s\"", "claims 4611686018427387904 items");
        // key string of 2^62 bytes: patch the first key's length
        byte[] b = new GgufWriter().put("key", 1).toBytes();
        System.arraycopy(GgufWriter.le64(1L << 62), 0, b, 24, 8);
        bad(b, "key of metadata entry 0", "is truncated");
    }

    @Test
    void lyingArrayLength() throws Exception {
        bad(new GgufWriter().putRaw("a", GgufValueType.ARRAY.id,
                GgufWriter.concat(GgufWriter.le32(GgufValueType.UINT8.id), GgufWriter.le64(1L << 50), new byte[16])).toBytes(),
                "array of metadata key \"a\"", "claims 1125899906842624 items");
        // 100 strings need at least 800 bytes; only a few remain although 100 < remaining bytes
        bad(new GgufWriter().putRaw("s", GgufValueType.ARRAY.id,
                GgufWriter.concat(GgufWriter.le32(GgufValueType.STRING.id), GgufWriter.le64(100), new byte[200])).toBytes(),
                "array of metadata key \"s\"", "claims 100 items", "at least 800 bytes");
        bad(new GgufWriter().putRaw("n", GgufValueType.ARRAY.id,
                GgufWriter.concat(GgufWriter.le32(GgufValueType.ARRAY.id), GgufWriter.le64(1L << 50), new byte[16])).toBytes(),
                "claims 1125899906842624 items");
    }

    @Test
    void deeplyNestedArrays() throws Exception {
        Object v = new int[] {1};
        for (int i = 0; i < 20; i++) v = new Object[] {v};
        bad(new GgufWriter().put("deep", v).toBytes(), "\"deep\"", "nests arrays");
    }

    @Test
    void unknownValueTypes() throws Exception {
        bad(new GgufWriter().putRaw("k", 13, new byte[8]).toBytes(), "metadata key \"k\" has unknown value type 13");
        bad(new GgufWriter().putRaw("k", GgufValueType.ARRAY.id, GgufWriter.concat(GgufWriter.le32(99), GgufWriter.le64(0))).toBytes(),
                "\"k\" is an array of unknown type 99");
    }

    @Test
    void duplicateKeysAndTensors() throws Exception {
        byte[] b = new GgufWriter().put("k1", 1).put("k2", 2).toBytes();
        // rename k2 to k1 (both keys have length 2)
        for (int i = 0; i < b.length - 1; i++) if (b[i] == 'k' && b[i + 1] == '2') b[i + 1] = '1';
        bad(b, "metadata key \"k1\" appears twice");
        bad(new GgufWriter().addTensor("t", GgmlType.F32, new long[] {8}, f32(new float[8]))
                .addTensor("t", GgmlType.F32, new long[] {8}, f32(new float[8])).toBytes(), "tensor \"t\" appears twice");
    }

    @Test
    void badAlignment() throws Exception {
        bad(new GgufWriter().put("general.alignment", GgufValueType.UINT32, 3L).toBytes(), "general.alignment is 3");
        bad(new GgufWriter().put("general.alignment", GgufValueType.UINT32, 0L).toBytes(), "general.alignment is 0");
        bad(new GgufWriter().put("general.alignment", "32").toBytes(), "general.alignment", "expected an integer");
    }

    @Test
    void tensorPastEndOfFile() throws Exception {
        bad(new GgufWriter().addTensorRaw("w", GgmlType.F32.id, new long[] {8}, null, 1L << 40).toBytes(),
                "tensor \"w\"", "extends past the end of the file");
        bad(new GgufWriter().addTensorRaw("w", GgmlType.F32.id, new long[] {8}, null, 0x7FFFFFFFFFFFFFE0L).toBytes(),
                "tensor \"w\"", "extends past the end");
        bad(new GgufWriter().addTensorRaw("w", GgmlType.F32.id, new long[] {1L << 40}, null, 0L).toBytes(),
                "tensor \"w\"", "extends past the end");
        // negative (huge unsigned) offset
        bad(new GgufWriter().addTensorRaw("w", GgmlType.F32.id, new long[] {8}, null, -32L).toBytes(), "tensor \"w\"", "offset");
    }

    @Test
    void misalignedOffset() throws Exception {
        bad(new GgufWriter().addTensor("a", GgmlType.F32, new long[] {8}, f32(new float[8]))
                .addTensorRaw("w", GgmlType.F32.id, new long[] {1}, null, 4L).toBytes(),
                "tensor \"w\" has data offset 4", "alignment 32");
    }

    @Test
    void badDims() throws Exception {
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, f32(1)).toBytes(), "tensor \"w\" claims 5 dimensions");
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {}, f32(1)).toBytes(), "tensor \"w\" claims 0 dimensions");
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {4, 0}, f32(1)).toBytes(), "tensor \"w\" has dimension 1 = 0");
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {4, -2}, f32(1)).toBytes(), "tensor \"w\" has dimension 1 = 18446744073709551614");
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {1L << 32, 1L << 32, 4}, f32(1)).toBytes(), "tensor \"w\"", "overflows");
        bad(new GgufWriter().addTensor("w", GgmlType.Q8_0, new long[] {16, 2}, new byte[34]).toBytes(),
                "tensor \"w\" has rows of 16 elements", "block size 32");
        // 2^59 Q8_0 elements * 34 bytes / 32 overflows the byte size
        bad(new GgufWriter().addTensor("w", GgmlType.F32, new long[] {1L << 61, 2}, f32(1)).toBytes(), "tensor \"w\"");
    }

    @Test
    void unsupportedTensorType() throws Exception {
        var e = bad(new GgufWriter().addTensorRaw("blk.0.attn_q.weight", 13, new long[] {256}, new byte[176], null).toBytes(),
                "tensor \"blk.0.attn_q.weight\"", "has type Q5_K, which starattn does not support (supported: ", "Q4_K", "BF16");
        assertFalse(e.getMessage().contains("corrupt"));
        bad(new GgufWriter().addTensorRaw("x", 1234, new long[] {1}, new byte[4], null).toBytes(), "tensor \"x\"", "unknown type 1234");
    }

    @Test
    void corruptionNeverLeaksOtherExceptions() throws Exception {
        byte[] full = allTypes(3).addTensor("a", GgmlType.F32, new long[] {8}, f32(1, 2, 3, 4, 5, 6, 7, 8)).toBytes();
        Random rnd = new Random(99);
        Path p = dir.resolve("fuzz.gguf");
        for (int iter = 0; iter < 300; iter++) {
            byte[] b = full.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int at = rnd.nextInt(Math.min(b.length, 400));
                b[at] = rnd.nextInt(3) == 0 ? (byte) 0xFF : (byte) rnd.nextInt(256);
            }
            Files.write(p, b);
            try (GgufFile f = GgufFile.open(p)) {
                assertNotNull(f.metadata());
            } catch (ModelFormatException e) {
                assertTrue(e.getMessage().contains("fuzz.gguf"), e::getMessage);
            }
        }
    }
}
