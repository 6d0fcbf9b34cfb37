package dev.starattn.format;

/**
 * A model file (or tokenizer/config file) that cannot be used. The message is one sentence a
 * person can act on; it names the file and, where it applies, the tensor or key at fault.
 */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
