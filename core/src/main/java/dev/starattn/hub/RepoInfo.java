package dev.starattn.hub;

import java.util.List;

/** What {@code GET /api/models/ORG/NAME/revision/REV} says: the commit the revision is at and the files of the repository there. */
public record RepoInfo(String sha, List<String> files) {
    public RepoInfo {
        files = List.copyOf(files);
    }
}
