package dev.starattn.app.serve;

import java.security.SecureRandom;
import java.util.HexFormat;

/** Unguessable hex for document and completion ids. */
final class RandomIds {
    private static final SecureRandom RANDOM = new SecureRandom();

    private RandomIds() {}

    /** {@code bytes} random bytes as 2 * bytes hex digits. */
    static String hex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
