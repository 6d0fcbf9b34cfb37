package dev.starattn.hub;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A model repository on the Hub and the revision wanted: {@code ORG/NAME[@REVISION]}, revision
 * {@code main} when none is given.
 */
public record RepoRef(String id, String revision, boolean revisionGiven) {
    /** The Hub's rule for names: letters, digits, {@code - _ .}, not starting or ending with {@code -} or {@code .}. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    public static final String DEFAULT_REVISION = "main";

    /** {@code ORG/NAME[@REVISION]} if the text has that shape, else empty (a local path, say). */
    public static Optional<RepoRef> parse(String text) {
        if (text == null) return Optional.empty();
        String id = text;
        String revision = DEFAULT_REVISION;
        boolean given = false;
        int at = text.indexOf('@');
        if (at >= 0) {
            id = text.substring(0, at);
            revision = text.substring(at + 1);
            given = true;
            if (!REVISION.matcher(revision).matches() || revision.contains("..")) return Optional.empty();
        }
        int slash = id.indexOf('/');
        if (slash < 0 || slash != id.lastIndexOf('/')) return Optional.empty();
        if (!NAME.matcher(id.substring(0, slash)).matches() || !NAME.matcher(id.substring(slash + 1)).matches()) return Optional.empty();
        if (id.contains("--") || id.contains("..")) return Optional.empty();
        return Optional.of(new RepoRef(id, revision, given));
    }

    /** As {@link #parse}, failing with one sentence when the text is not a repository name. */
    public static RepoRef require(String text) {
        return parse(text).orElseThrow(() -> new dev.starattn.cli.UsageException(
                "'" + text + "' is not a model repository; give it as ORG/NAME or ORG/NAME@REVISION"));
    }

    /** huggingface_hub's folder for this repository: {@code models--ORG--NAME}. */
    public String folderName() {
        return "models--" + id.replace("/", "--");
    }

    /** Whether the revision is a full commit hash (immutable: no ref is written for it). */
    public boolean revisionIsCommit() {
        return COMMIT.matcher(revision).matches();
    }

    static boolean isCommit(String s) {
        return s != null && COMMIT.matcher(s).matches();
    }

    /** {@code ORG/NAME}, or {@code ORG/NAME@REVISION} when a revision was given. */
    @Override
    public String toString() {
        return revisionGiven ? id + "@" + revision : id;
    }
}
