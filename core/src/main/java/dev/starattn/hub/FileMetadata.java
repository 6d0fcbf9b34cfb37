package dev.starattn.hub;

import java.net.URI;

/**
 * What a {@code HEAD} of {@code resolve/<sha>/<file>} says about one file, as huggingface_hub reads it:
 * the blob name ({@code X-Linked-Etag}, else {@code ETag}: the sha256 of an LFS file, the git hash of
 * another), its size ({@code X-Linked-Size}, else {@code Content-Length}), the commit ({@code X-Repo-Commit})
 * and where the bytes are (the redirect's target for LFS files).
 */
public record FileMetadata(String etag, long size, String commit, URI location) {
    /** Whether the etag is a sha256 (an LFS file): then the downloaded bytes must hash to it. */
    public boolean isSha256() {
        return etag.matches("[0-9a-f]{64}");
    }

    /** The ETag header with its quotes and weak marker removed (huggingface_hub's {@code _normalize_etag}). */
    static String normalize(String etag) {
        if (etag == null) return null;
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.startsWith("\"")) e = e.substring(1);
        if (e.endsWith("\"")) e = e.substring(0, e.length() - 1);
        return e;
    }
}
