package dev.starattn.tokenizer;

/**
 * Text to token ids and back. Implementations: SentencePiece-style BPE with scores and byte
 * fallback (GGUF {@code tokenizer.ggml.model = llama}) and byte-level BPE with merges
 * (GGUF {@code gpt2}, and Hugging Face {@code tokenizer.json}).
 */
public interface Tokenizer {
    /** Encodes plain text; special-token strings in it are treated as ordinary text. No BOS added. */
    int[] encode(String text);

    /** Encodes text in which special-token strings (e.g. {@code <|eot_id|>}) become their ids. No BOS added. */
    int[] encodeWithSpecialTokens(String text);

    /**
     * Encodes text that continues an earlier text (a query after its context): special tokens
     * recognised, and no SentencePiece space prefix at the start, so that encoding a text in two
     * parts gives the ids of the whole wherever the cut is a token boundary.
     */
    int[] encodeContinuation(String text);

    /** Decodes ids to text; an incomplete UTF-8 sequence at the end is dropped, never emitted broken. */
    String decode(int[] ids);

    /** The raw bytes of one token (byte-fallback and byte-level tokens resolved), for streaming decode. */
    byte[] tokenBytes(int id);

    int vocabSize();

    /** BOS id, or -1 if the vocabulary has none. */
    int bosId();

    /** EOS id, or -1. */
    int eosId();

    /** True for tokens that end generation (EOS, end-of-turn, end-of-text). */
    boolean isEndOfGeneration(int id);

    /** Whether the model expects BOS at the start of a prompt (GGUF {@code tokenizer.ggml.add_bos_token}). */
    boolean addBos();

    /** Text of a token as stored in the vocabulary (for diagnostics). */
    String tokenText(int id);
}
