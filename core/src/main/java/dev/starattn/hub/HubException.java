package dev.starattn.hub;

/**
 * A pull or a look-up in the caches failed for a reason the user can act on: one sentence that names
 * the repository (and the file, where there is one). The CLI prints it and exits 1.
 */
public final class HubException extends IllegalStateException {
    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
