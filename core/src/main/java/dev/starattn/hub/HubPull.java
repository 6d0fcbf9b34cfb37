package dev.starattn.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code starattn pull}: a repository's files into huggingface_hub's cache, as its {@code snapshot_download}
 * does: the commit and file list from the API, {@code refs/<revision>} written, then each file fetched
 * from {@code resolve/<commit>/<file>} into a blob and linked from the snapshot. A file already in the
 * snapshot costs no request, so a second pull of the same revision only asks for the commit.
 */
public final class HubPull {
    /** What a pull left in the cache. {@code model} is the path {@code -m ORG/NAME} resolves to (the snapshot, or the GGUF file). */
    public record Result(RepoRef repo, String commit, Path snapshot, List<String> files, long downloadedBytes, Path model) {}

    private final HubEnvironment env;
    private final DownloadListener listener;
    private final Duration stall;

    public HubPull(HubEnvironment env, DownloadListener listener) {
        this(env, listener, Duration.ofSeconds(60));
    }

    /** {@code stall}: a connection that sends nothing for this long is dropped and the file resumed. */
    public HubPull(HubEnvironment env, DownloadListener listener, Duration stall) {
        this.env = env;
        this.listener = listener;
        this.stall = stall;
    }

    public Result pull(RepoRef repo, FileSelection selection) {
        HubCache cache = new HubCache(env.hubCache(), repo);
        if (env.offline()) return fromCache(repo, cache, selection);
        HubHttp http = new HubHttp(env);
        RepoInfo info = http.repoInfo(repo);
        List<String> files = selection.choose(repo, info.files());
        String commit = info.sha();
        try {
            Files.createDirectories(cache.repoDir());
            cache.tagCacheDir();
            cache.writeRef(repo.revision(), commit);
            BlobDownloader downloader = new BlobDownloader(http, cache, repo, listener, stall.toMillis());
            long downloaded = 0;
            for (String file : files) {
                if (cache.hasFile(commit, file)) {
                    listener.finished(file, Files.size(cache.snapshotFile(commit, file)), false);
                    continue;
                }
                FileMetadata meta = http.metadata(repo, commit, file);
                boolean fetched = downloader.fetch(file, meta);
                cache.link(commit, file, meta.etag());
                long size = Files.size(cache.blob(meta.etag()));
                if (fetched) downloaded += size;
                listener.finished(file, size, fetched);
            }
            return new Result(repo, commit, cache.snapshot(commit), files, downloaded, modelPath(cache, commit, files));
        } catch (IOException e) {
            throw new HubException("cannot write the cache " + env.hubCache() + " for " + repo + ": " + e.getMessage() + ".", e);
        }
    }

    /** Offline: what the cache holds for the revision, or one sentence saying it cannot be fetched now. */
    private Result fromCache(RepoRef repo, HubCache cache, FileSelection selection) {
        String commit = cache.commitOf(repo.revision()).orElseThrow(() -> HubErrors.offline(repo, cache));
        Path snapshot = cache.snapshot(commit);
        if (!Files.isDirectory(snapshot)) throw HubErrors.offline(repo, cache);
        List<String> present = listFiles(snapshot);
        List<String> files = selection.choose(repo, present);
        return new Result(repo, commit, snapshot, files, 0, modelPath(cache, commit, files));
    }

    private static Path modelPath(HubCache cache, String commit, List<String> files) {
        if (files.contains("config.json")) return cache.snapshot(commit);
        List<String> ggufs = GgufChoice.candidates(files);
        return ggufs.size() == 1 ? cache.snapshotFile(commit, ggufs.getFirst()) : cache.snapshot(commit);
    }

    /** The files of a snapshot folder, as repository paths. */
    static List<String> listFiles(Path snapshot) {
        try (Stream<Path> s = Files.walk(snapshot)) {
            List<String> out = new ArrayList<>();
            s.filter(p -> !Files.isDirectory(p)).forEach(p -> out.add(snapshot.relativize(p).toString().replace('\\', '/')));
            out.sort(null);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
