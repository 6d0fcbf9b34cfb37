package dev.starattn.hub;

/** What a pull reports while it runs (the CLI draws a progress bar from it); every method may be left out. */
public interface DownloadListener {
    DownloadListener NONE = new DownloadListener() {};

    /** A file's transfer starts: {@code size} bytes in all (-1 if unknown), {@code have} of them already on disk from an earlier try. */
    default void started(String file, long size, long have) {}

    /** {@code have} bytes of the file are on disk now. */
    default void progress(String file, long have) {}

    /** The file is in the cache: {@code downloaded} false when it already was (or another pull fetched it). */
    default void finished(String file, long size, boolean downloaded) {}

    /** Another pull (this process or another) is fetching the same blob: this one waits for it. */
    default void waiting(String file) {}

    /** The connection broke after {@code have} bytes; the transfer resumes from there. */
    default void retrying(String file, long have, String reason) {}
}
