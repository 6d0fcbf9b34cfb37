package dev.starattn.chat;

/** A chat template that cannot render these messages: its own {@code raise_exception}, or a template error. */
public final class ChatTemplateException extends IllegalArgumentException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
