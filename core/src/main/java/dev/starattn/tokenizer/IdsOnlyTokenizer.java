package dev.starattn.tokenizer;

import dev.starattn.format.ModelFormatException;
import java.nio.charset.StandardCharsets;

/**
 * The tokenizer of a model directory that has none (a safetensors checkpoint without tokenizer.json): prompts
 * can still be given as token ids (--context-tokens, --query-tokens), and the answer comes back as ids. Encoding
 * text fails with one sentence that says what to do instead; decoding writes each id as {@code <id>}.
 */
public final class IdsOnlyTokenizer implements Tokenizer {
    private final String source;
    private final int vocabSize;
    private final int bos;
    private final int eos;

    /** {@code source} names the model in the message; bos and eos are -1 where the config names none. */
    public IdsOnlyTokenizer(String source, int vocabSize, int bos, int eos) {
        this.source = source;
        this.vocabSize = vocabSize;
        this.bos = bos;
        this.eos = eos;
    }

    private int[] refuse() {
        throw new ModelFormatException(source + " has no tokenizer.json: give the prompt as token ids (--context-tokens, --query-tokens)");
    }

    @Override public int[] encode(String text) {
        return refuse();
    }

    @Override public int[] encodeWithSpecialTokens(String text) {
        return refuse();
    }

    @Override public int[] encodeContinuation(String text) {
        return refuse();
    }

    @Override public String decode(int[] ids) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) b.append('<').append(id).append('>');
        return b.toString();
    }

    @Override public byte[] tokenBytes(int id) {
        return ("<" + id + ">").getBytes(StandardCharsets.US_ASCII);
    }

    @Override public int vocabSize() {
        return vocabSize;
    }

    @Override public int bosId() {
        return bos;
    }

    @Override public int eosId() {
        return eos;
    }

    @Override public boolean isEndOfGeneration(int id) {
        return id == eos;
    }

    /** The ids are the prompt as given: nothing is put before them. */
    @Override public boolean addBos() {
        return false;
    }

    @Override public String tokenText(int id) {
        return "<" + id + ">";
    }
}
