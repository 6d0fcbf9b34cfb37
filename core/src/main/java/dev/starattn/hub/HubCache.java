package dev.starattn.hub;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.UUID;

/**
 * huggingface_hub's cache layout for one repository, and the only code that writes it:
 * <pre>
 * HUB_CACHE/CACHEDIR.TAG
 * HUB_CACHE/.locks/models--ORG--NAME/&lt;etag&gt;.lock
 * HUB_CACHE/models--ORG--NAME/refs/&lt;revision&gt;          the commit hash, no newline
 * HUB_CACHE/models--ORG--NAME/blobs/&lt;etag&gt;              the file's bytes (etag: sha256 of LFS files, git sha1 of others)
 * HUB_CACHE/models--ORG--NAME/snapshots/&lt;sha&gt;/&lt;file&gt;   a relative link to ../../blobs/&lt;etag&gt;
 * </pre>
 */
public final class HubCache {
    /** The Cache Directory Tagging Standard's signature, as huggingface_hub writes it (backup tools skip the folder). */
    static final String CACHEDIR_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n"
            + "# This file is a cache directory tag created by huggingface_hub.\n"
            + "# For information about cache directory tags, see:\n"
            + "#\thttps://bford.info/cachedir/\n";

    private final Path root;
    private final RepoRef repo;

    public HubCache(Path root, RepoRef repo) {
        this.root = root;
        this.repo = repo;
    }

    public Path root() { return root; }

    public Path repoDir() { return root.resolve(repo.folderName()); }

    public Path blob(String etag) { return repoDir().resolve("blobs").resolve(etag); }

    /** Where a download in progress is kept, so that a later pull resumes it. */
    public Path incomplete(String etag) { return repoDir().resolve("blobs").resolve(etag + ".incomplete"); }

    public Path lockFile(String etag) { return root.resolve(".locks").resolve(repo.folderName()).resolve(etag + ".lock"); }

    public Path snapshot(String commit) { return repoDir().resolve("snapshots").resolve(commit); }

    public Path snapshotFile(String commit, String file) { return snapshot(commit).resolve(file); }

    /** The commit a revision names: the revision itself if it is a hash, else {@code refs/<revision>}. */
    public Optional<String> commitOf(String revision) {
        if (RepoRef.isCommit(revision)) return Optional.of(revision);
        Path ref = repoDir().resolve("refs").resolve(revision);
        try {
            if (!Files.isRegularFile(ref)) return Optional.empty();
            String sha = Files.readString(ref, StandardCharsets.UTF_8).strip();
            return RepoRef.isCommit(sha) ? Optional.of(sha) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Records that {@code revision} is {@code commit} (atomically: a reader never sees half a hash); nothing for a hash. */
    public void writeRef(String revision, String commit) throws IOException {
        if (revision.equals(commit)) return;
        if (commitOf(revision).filter(commit::equals).isPresent()) return;
        Path ref = repoDir().resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        Path tmp = ref.resolveSibling(ref.getFileName() + "." + UUID.randomUUID().toString().substring(0, 8) + ".tmp");
        Files.writeString(tmp, commit, StandardCharsets.UTF_8);
        moveReplacing(tmp, ref);
    }

    /** Writes {@code CACHEDIR.TAG} into the cache root once, as huggingface_hub does. */
    public void tagCacheDir() {
        Path tag = root.resolve("CACHEDIR.TAG");
        if (Files.exists(tag)) return;
        try {
            Files.createDirectories(root);
            Files.writeString(tag, CACHEDIR_TAG, StandardCharsets.UTF_8);
        } catch (IOException e) {
            // as huggingface_hub: the tag is a courtesy to backup tools, the cache works without it
        }
    }

    /** Points {@code snapshots/<commit>/<file>} at the blob with a relative link (the cache folder may move). */
    public Path link(String commit, String file, String etag) throws IOException {
        Path pointer = snapshotFile(commit, file);
        Files.createDirectories(pointer.getParent());
        Path target = pointer.getParent().relativize(blob(etag));
        try {
            Files.createSymbolicLink(pointer, target);
        } catch (FileAlreadyExistsException e) {
            if (Files.isSymbolicLink(pointer) && Files.readSymbolicLink(pointer).equals(target)) return pointer;
            Files.delete(pointer);
            Files.createSymbolicLink(pointer, target);
        } catch (UnsupportedOperationException e) {
            Files.copy(blob(etag), pointer, StandardCopyOption.REPLACE_EXISTING); // no links here: a copy, as huggingface_hub does
        }
        return pointer;
    }

    /** Whether the snapshot already holds the file (a link whose blob is there, or a plain copy). */
    public boolean hasFile(String commit, String file) {
        return Files.exists(snapshotFile(commit, file));
    }

    static void moveReplacing(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
