package dev.starattn.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The three requests a pull makes, over {@link HttpClient}: the repository's commit and file list, a
 * file's metadata, and its bytes (from an offset, to resume). Redirects are followed by hand so that the
 * token goes to the Hub's own host only, never to the storage host a file redirects to.
 */
final class HubHttp {
    private static final int MAX_REDIRECTS = 10;
    private static final Duration METADATA_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern SAFE_ETAG = Pattern.compile("[A-Za-z0-9_.+=-]{1,200}");
    private static final String USER_AGENT = "starattn/0.1.0; java/" + Runtime.version().feature();

    private final HubEnvironment env;
    private final URI endpoint;
    private final HttpClient client;

    HubHttp(HubEnvironment env) {
        this.env = env;
        this.endpoint = URI.create(env.endpoint() + "/");
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(15))
                .build();
    }

    /** {@code GET {endpoint}/api/models/{repo}/revision/{rev}}: the commit ({@code sha}) and {@code siblings[].rfilename}. */
    RepoInfo repoInfo(RepoRef repo) {
        URI uri = endpoint.resolve("api/models/" + repo.id() + "/revision/" + encodeSegment(repo.revision()));
        HttpResponse<InputStream> r = send(request(uri, "GET").timeout(METADATA_TIMEOUT), repo, null);
        try (InputStream body = r.body()) {
            if (r.statusCode() != 200) throw HubErrors.forStatus(r.statusCode(), r.headers(), repo, null, hasToken());
            JsonNode json = new ObjectMapper().readTree(body);
            String sha = json.path("sha").asText(null);
            if (!RepoRef.isCommit(sha)) throw new HubException("the Hub's answer for " + repo + " has no commit hash (sha); is HF_ENDPOINT a Hub?");
            List<String> files = new ArrayList<>();
            for (JsonNode s : json.path("siblings")) {
                String name = s.path("rfilename").asText(null);
                if (name != null && isSafeRelativePath(name)) files.add(name);
            }
            return new RepoInfo(sha, files);
        } catch (IOException e) {
            throw HubErrors.unreachable(env, repo, null, e);
        }
    }

    /** {@code HEAD {endpoint}/{repo}/resolve/{commit}/{file}}, following redirects that stay on the Hub's host. */
    FileMetadata metadata(RepoRef repo, String commit, String file) {
        URI uri = resolveUri(repo, commit, file);
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpResponse<InputStream> r = send(request(uri, "HEAD").header("Accept-Encoding", "identity").timeout(METADATA_TIMEOUT), repo, file);
            closeQuietly(r.body());
            int status = r.statusCode();
            HttpHeaders h = r.headers();
            Optional<String> location = h.firstValue("Location");
            boolean redirect = status >= 300 && status < 400 && location.isPresent();
            if (!redirect && status >= 300) throw HubErrors.forStatus(status, h, repo, file, hasToken());
            URI target = redirect ? uri.resolve(location.get()) : uri;
            if (redirect && sameHost(uri, target)) {
                uri = target; // a renamed repository, say: the metadata is on the next answer
                continue;
            }
            String etag = FileMetadata.normalize(h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).orElse(null));
            String commitHeader = h.firstValue("X-Repo-Commit").orElse(null);
            long size = h.firstValue("X-Linked-Size").or(() -> redirect ? Optional.empty() : h.firstValue("Content-Length"))
                    .map(HubHttp::parseLong).orElse(-1L);
            if (etag == null || !SAFE_ETAG.matcher(etag).matches()) {
                throw new HubException("the Hub gave no usable ETag for " + repo + " file " + file + "; is HF_ENDPOINT a Hub?");
            }
            if (commitHeader == null) throw new HubException("the Hub gave no X-Repo-Commit for " + repo + " file " + file + "; is HF_ENDPOINT a Hub?");
            return new FileMetadata(etag, size, commitHeader, target);
        }
        throw new HubException("too many redirects for " + repo + " file " + file + ".");
    }

    /**
     * {@code GET} of a file's bytes from {@code offset} on (a Range request when above 0), following every
     * redirect; the answer is 200 (the whole file: the server ignored the range) or 206.
     */
    HttpResponse<InputStream> download(RepoRef repo, String file, URI location, long offset) {
        URI uri = location;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpRequest.Builder b = request(uri, "GET").header("Accept-Encoding", "identity");
            if (offset > 0) b.header("Range", "bytes=" + offset + "-");
            HttpResponse<InputStream> r = send(b, repo, file);
            int status = r.statusCode();
            Optional<String> loc = r.headers().firstValue("Location");
            if (status >= 300 && status < 400 && loc.isPresent()) {
                closeQuietly(r.body());
                uri = uri.resolve(loc.get());
                continue;
            }
            if (status == 200 || status == 206) return r;
            closeQuietly(r.body());
            throw HubErrors.forStatus(status, r.headers(), repo, file, hasToken());
        }
        throw new HubException("too many redirects for " + repo + " file " + file + ".");
    }

    URI resolveUri(RepoRef repo, String commit, String file) {
        StringBuilder path = new StringBuilder(repo.id()).append("/resolve/").append(encodeSegment(commit));
        for (String part : file.split("/")) path.append('/').append(encodeSegment(part));
        return endpoint.resolve(path.toString());
    }

    private boolean hasToken() {
        return env.token().isPresent();
    }

    private HttpRequest.Builder request(URI uri, String method) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).method(method, HttpRequest.BodyPublishers.noBody())
                .header("User-Agent", USER_AGENT);
        // The token is for the Hub only: a redirect to a storage host carries its own signed URL.
        if (env.token().isPresent() && sameHost(endpoint, uri)) b.header("Authorization", "Bearer " + env.token().get());
        return b;
    }

    private HttpResponse<InputStream> send(HttpRequest.Builder request, RepoRef repo, String file) {
        try {
            return client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw HubErrors.unreachable(env, repo, file, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("the pull of " + repo + " was interrupted.", e);
        }
    }

    static boolean sameHost(URI a, URI b) {
        return Objects.equals(lower(a.getHost()), lower(b.getHost())) && a.getPort() == b.getPort()
                && Objects.equals(a.getScheme(), b.getScheme());
    }

    /** A repository path that cannot leave the snapshot folder: relative, no {@code ..}, no empty part. */
    static boolean isSafeRelativePath(String name) {
        if (name.isEmpty() || name.startsWith("/") || name.contains("\\") || name.indexOf('\0') >= 0) return false;
        for (String part : name.split("/", -1)) {
            if (part.isEmpty() || part.equals(".") || part.equals("..")) return false;
        }
        return true;
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(java.util.Locale.ROOT);
    }

    private static String encodeSegment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            // nothing to keep from a body that is thrown away
        }
    }
}
