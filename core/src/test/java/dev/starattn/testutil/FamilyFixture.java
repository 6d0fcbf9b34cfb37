package dev.starattn.testutil;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A tiny random model of one family saved by transformers, with transformers' own logits
 * (tools/oracle/hf_families.py wrote them under test resources {@code families/NAME/}): the oracle the
 * family tests compare with. The weights are bfloat16; the reference is transformers' float64 forward
 * over the whole sequence, rounded to float32 when stored.
 */
public final class FamilyFixture {
    /** The two config.json styles: transformers 4.x ({@code rope_theta} + {@code rope_scaling}) and 5.x ({@code rope_parameters}). */
    public enum Style { V4, V5 }

    public final String name;
    public final int[] tokens;
    /** Reference logits per position. */
    public final float[][] logits;

    private FamilyFixture(String name, int[] tokens, float[][] logits) {
        this.name = name;
        this.tokens = tokens;
        this.logits = logits;
    }

    public static FamilyFixture of(String name) {
        int[] tokens = Arrays.stream(new String(bytes(name, "ref_tokens.txt")).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
        ByteBuffer b = ByteBuffer.wrap(bytes(name, "ref_logits.f32")).order(ByteOrder.LITTLE_ENDIAN);
        int vocab = b.remaining() / Float.BYTES / tokens.length;
        float[][] logits = new float[tokens.length][vocab];
        for (float[] row : logits) for (int i = 0; i < vocab; i++) row[i] = b.getFloat();
        return new FamilyFixture(name, tokens, logits);
    }

    /** Writes the model into {@code dir} as a Hugging Face directory with the config of {@code style}; returns {@code dir}. */
    public Path writeTo(Path dir, Style style) {
        return writeTo(dir, style, null);
    }

    /** As {@link #writeTo(Path, Style)}, with the config text passed through {@code edit} (null: as saved). */
    public Path writeTo(Path dir, Style style, java.util.function.UnaryOperator<String> edit) {
        return writeTo(dir, style, edit, null);
    }

    /** As {@link #writeTo(Path, Style, java.util.function.UnaryOperator)}, with every tensor renamed by {@code rename} (null: as saved). */
    public Path writeTo(Path dir, Style style, java.util.function.UnaryOperator<String> edit, java.util.function.UnaryOperator<String> rename) {
        try {
            Files.createDirectories(dir);
            byte[] weights = bytes(name, "model.safetensors");
            Files.write(dir.resolve("model.safetensors"), rename == null ? weights : renameTensors(weights, rename));
            String config = new String(bytes(name, style == Style.V4 ? "config.v4.json" : "config.v5.json"));
            Files.writeString(dir.resolve("config.json"), edit == null ? config : edit.apply(config));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A safetensors file with its tensors renamed: the header rewritten (offsets are relative to the data, which stays). */
    private static byte[] renameTensors(byte[] file, java.util.function.UnaryOperator<String> rename) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = (int) b.getLong();
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var header = json.readTree(new String(file, 8, headerLength, java.nio.charset.StandardCharsets.UTF_8));
        var renamed = json.createObjectNode();
        header.properties().forEach(e -> renamed.set(e.getKey().equals("__metadata__") ? e.getKey() : rename.apply(e.getKey()), e.getValue()));
        StringBuilder text = new StringBuilder(json.writeValueAsString(renamed));
        while (text.length() % 8 != 0) text.append(' ');
        byte[] h = text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + file.length - 8 - headerLength).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(file, 8 + headerLength, file.length - 8 - headerLength);
        return out.array();
    }

    private static byte[] bytes(String name, String file) {
        String res = "/families/" + name + "/" + file;
        try (InputStream in = FamilyFixture.class.getResourceAsStream(res)) {
            if (in == null) throw new IllegalStateException("test resource " + res + " is missing (tools/oracle/hf_families.py writes it)");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
