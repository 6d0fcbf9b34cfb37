package dev.starattn.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A Hub-compatible server for tests, over real HTTP on 127.0.0.1: the model API (revision and tree),
 * {@code resolve} with the Hub's headers (X-Repo-Commit, X-Linked-Etag, X-Linked-Size), LFS files
 * redirected to a {@code /cdn} path on another host name ({@code localhost}, as the real Hub redirects to
 * its storage host), Range requests, a gated repository (401/403 with X-Error-Code) and 404s. Faults on
 * demand: a connection dropped after some bytes of a file, and a file whose bytes differ from its sha256.
 */
public final class HubTestServer implements AutoCloseable {
    /** One file of a repository: LFS files are named by their sha256 and served from the CDN path. */
    record RepoFile(byte[] bytes, boolean lfs) {
        String sha256() { return hex(digest("SHA-256", bytes)); }

        /** The git blob hash, which the Hub gives as the ETag of files kept in git itself. */
        String gitSha1() {
            byte[] header = ("blob " + bytes.length + "\0").getBytes(StandardCharsets.UTF_8);
            byte[] all = new byte[header.length + bytes.length];
            System.arraycopy(header, 0, all, 0, header.length);
            System.arraycopy(bytes, 0, all, header.length, bytes.length);
            return hex(digest("SHA-1", all));
        }

        String etag() { return lfs ? sha256() : gitSha1(); }
    }

    record Repo(String id, String sha, Map<String, RepoFile> files, String gatedToken) {}

    private final HttpServer server;
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> dropsLeft = new ConcurrentHashMap<>();
    private final Map<String, Long> dropAfter = new ConcurrentHashMap<>();
    private final Map<String, Boolean> corrupt = new ConcurrentHashMap<>();
    private final List<String> log = Collections.synchronizedList(new ArrayList<>());

    public HubTestServer() throws IOException {
        this(0);
    }

    public HubTestServer(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        server.createContext("/", this::handle);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
    }

    /** The Hub's address, as HF_ENDPOINT. */
    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** The storage host LFS files redirect to: the same server under another name, so that it counts as another host. */
    String cdn() {
        return "http://localhost:" + server.getAddress().getPort() + "/cdn/";
    }

    public void addRepo(String id, String sha, Map<String, byte[]> files, List<String> lfsFiles, String gatedToken) {
        Map<String, RepoFile> m = new LinkedHashMap<>();
        files.forEach((name, bytes) -> m.put(name, new RepoFile(bytes, lfsFiles.contains(name))));
        repos.put(id, new Repo(id, sha, m, gatedToken));
    }

    /** The next {@code times} downloads of the file close the connection after {@code bytes} bytes. */
    public void dropConnection(String file, long bytes, int times) {
        dropAfter.put(file, bytes);
        dropsLeft.put(file, new AtomicInteger(times));
    }

    /** The file's bytes are served with one byte changed, under its true size and sha256. */
    public void corrupt(String file) {
        corrupt.put(file, true);
    }

    /** Every request so far, as {@code METHOD path [Range] [auth]}. */
    public List<String> requests() {
        synchronized (log) {
            return List.copyOf(log);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        String range = ex.getRequestHeaders().getFirst("Range");
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        log.add(ex.getRequestMethod() + " " + path + (range != null ? " " + range : "") + (auth != null ? " auth" : ""));
        try (ex) {
            if (path.startsWith("/api/models/")) api(ex, decode(path.substring("/api/models/".length())));
            else if (path.startsWith("/cdn/")) cdn(ex, path.substring("/cdn/".length()));
            else resolve(ex, decode(path.substring(1)));
        } catch (IOException e) {
            // a dropped connection on purpose, or a client that went away
        }
    }

    private void api(HttpExchange ex, String rest) throws IOException {
        // ORG/NAME/revision/REV or ORG/NAME/tree/REV
        String[] p = rest.split("/", 4);
        if (p.length < 4) { error(ex, 404, "RepoNotFound", "Repository not found"); return; }
        Repo repo = repos.get(p[0] + "/" + p[1]);
        if (repo == null) { error(ex, 404, "RepoNotFound", "Repository not found"); return; }
        String rev = URLDecoder.decode(p[3], StandardCharsets.UTF_8);
        if (!rev.equals("main") && !rev.equals(repo.sha())) { error(ex, 404, "RevisionNotFound", "Invalid rev id: " + rev); return; }
        StringBuilder json = new StringBuilder();
        if (p[2].equals("revision")) {
            json.append("{\"_id\":\"x\",\"id\":\"").append(repo.id()).append("\",\"modelId\":\"").append(repo.id())
                    .append("\",\"sha\":\"").append(repo.sha()).append("\",\"private\":false,\"gated\":")
                    .append(repo.gatedToken() == null ? "false" : "\"manual\"").append(",\"siblings\":[");
            String sep = "";
            for (String f : repo.files().keySet()) {
                json.append(sep).append("{\"rfilename\":\"").append(f).append("\"}");
                sep = ",";
            }
            json.append("]}");
        } else if (p[2].equals("tree")) {
            json.append('[');
            String sep = "";
            for (var e : repo.files().entrySet()) {
                RepoFile f = e.getValue();
                json.append(sep).append("{\"type\":\"file\",\"oid\":\"").append(f.gitSha1()).append("\",\"size\":").append(f.bytes().length)
                        .append(",\"path\":\"").append(e.getKey()).append('"');
                if (f.lfs()) json.append(",\"lfs\":{\"oid\":\"").append(f.sha256()).append("\",\"size\":").append(f.bytes().length).append(",\"pointerSize\":134}");
                json.append('}');
                sep = ",";
            }
            json.append(']');
        } else {
            error(ex, 404, "RepoNotFound", "Not found");
            return;
        }
        byte[] body = json.toString().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
    }

    private void resolve(HttpExchange ex, String rest) throws IOException {
        // ORG/NAME/resolve/REV/FILE...
        String[] p = rest.split("/", 5);
        if (p.length < 5 || !p[2].equals("resolve")) { error(ex, 404, "RepoNotFound", "Not found"); return; }
        Repo repo = repos.get(p[0] + "/" + p[1]);
        if (repo == null) { error(ex, 404, "RepoNotFound", "Repository not found"); return; }
        if (repo.gatedToken() != null) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            if (auth == null) { error(ex, 401, "GatedRepo", "Access to model " + repo.id() + " is restricted."); return; }
            if (!auth.equals("Bearer " + repo.gatedToken())) { error(ex, 403, "GatedRepo", "Access to model " + repo.id() + " is restricted."); return; }
        }
        if (!p[3].equals("main") && !p[3].equals(repo.sha())) { error(ex, 404, "RevisionNotFound", "Invalid rev id"); return; }
        RepoFile f = repo.files().get(p[4]);
        if (f == null) { error(ex, 404, "EntryNotFound", "Entry not found"); return; }
        ex.getResponseHeaders().set("X-Repo-Commit", repo.sha());
        if (f.lfs()) {
            ex.getResponseHeaders().set("ETag", "\"" + f.gitSha1() + "\"");
            ex.getResponseHeaders().set("X-Linked-Etag", "\"" + f.sha256() + "\"");
            ex.getResponseHeaders().set("X-Linked-Size", Long.toString(f.bytes().length));
            ex.getResponseHeaders().set("Location", cdn() + f.sha256() + "?file=" + p[4].replace("/", "%2F") + "&repo=" + repo.id().replace("/", "%2F"));
            ex.sendResponseHeaders(302, -1);
            return;
        }
        ex.getResponseHeaders().set("ETag", "\"" + f.gitSha1() + "\"");
        serveBytes(ex, p[4], f.bytes());
    }

    private void cdn(HttpExchange ex, String sha) throws IOException {
        String query = ex.getRequestURI().getRawQuery();
        for (Repo repo : repos.values()) {
            for (var e : repo.files().entrySet()) {
                if (e.getValue().lfs() && e.getValue().sha256().equals(sha) && query != null && query.contains("repo=" + repo.id().replace("/", "%2F"))) {
                    ex.getResponseHeaders().set("ETag", "\"" + sha + "\"");
                    serveBytes(ex, e.getKey(), e.getValue().bytes());
                    return;
                }
            }
        }
        error(ex, 404, null, "no such object");
    }

    /** The bytes (or the asked range of them), with the faults asked for this file. */
    private void serveBytes(HttpExchange ex, String file, byte[] bytes) throws IOException {
        byte[] content = bytes;
        if (corrupt.containsKey(file) && bytes.length > 0) {
            content = bytes.clone();
            content[content.length / 2] ^= 0x5a;
        }
        int from = 0;
        int to = content.length - 1;
        String range = ex.getRequestHeaders().getFirst("Range");
        int status = 200;
        if (range != null && range.startsWith("bytes=")) {
            String[] r = range.substring(6).split("-", 2);
            from = Integer.parseInt(r[0]);
            if (!r[1].isEmpty()) to = Math.min(to, Integer.parseInt(r[1]));
            if (from > to) {
                ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
                ex.sendResponseHeaders(416, -1);
                return;
            }
            status = 206;
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + to + "/" + content.length);
        }
        ex.getResponseHeaders().set("Accept-Ranges", "bytes");
        int length = to - from + 1;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, length);
        OutputStream out = ex.getResponseBody();
        AtomicInteger drops = dropsLeft.get(file);
        if (drops != null && drops.getAndDecrement() > 0) {
            int cut = (int) Math.max(0, Math.min(length, dropAfter.get(file) - from));
            out.write(content, from, cut);
            out.flush();
            throw new IOException("dropped on purpose"); // closing an exchange short of its length drops the connection
        }
        out.write(content, from, length);
    }

    private static void error(HttpExchange ex, int status, String code, String message) throws IOException {
        byte[] body = ("{\"error\":\"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
        if (code != null) ex.getResponseHeaders().set("X-Error-Code", code);
        ex.getResponseHeaders().set("X-Error-Message", message);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, body.length);
        ex.getResponseBody().write(body);
    }

    private static String decode(String path) {
        return URLDecoder.decode(path.replace("+", "%2B"), StandardCharsets.UTF_8);
    }

    static byte[] digest(String algorithm, byte[] bytes) {
        try {
            return MessageDigest.getInstance(algorithm).digest(bytes);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /**
     * Serves the repositories under a folder ({@code FOLDER/ORG/NAME/...}; files of 1 MB and more, and
     * *.safetensors and *.gguf, as LFS) on a port, for checking by hand that huggingface_hub and starattn
     * write the same cache: {@code java -cp core/target/classes:core/target/test-classes dev.starattn.hub.HubTestServer FOLDER PORT}.
     */
    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        HubTestServer s = new HubTestServer(Integer.parseInt(args[1]));
        try (Stream<Path> orgs = Files.list(root)) {
            for (Path org : orgs.toList()) {
                try (Stream<Path> names = Files.list(org)) {
                    for (Path name : names.toList()) {
                        Map<String, byte[]> files = new LinkedHashMap<>();
                        List<String> lfs = new ArrayList<>();
                        try (Stream<Path> w = Files.walk(name)) {
                            for (Path f : w.filter(Files::isRegularFile).sorted().toList()) {
                                String rel = name.relativize(f).toString();
                                byte[] b = Files.readAllBytes(f);
                                files.put(rel, b);
                                if (b.length >= 1_000_000 || rel.endsWith(".safetensors") || rel.endsWith(".gguf")) lfs.add(rel);
                            }
                        }
                        String id = org.getFileName() + "/" + name.getFileName();
                        String sha = hex(digest("SHA-1", id.getBytes(StandardCharsets.UTF_8)));
                        s.addRepo(id, sha, files, lfs, null);
                        System.out.println("serving " + id + " at " + sha + " (" + files.size() + " files)");
                    }
                }
            }
        }
        System.out.println("endpoint " + s.endpoint());
        Thread.currentThread().join();
    }
}
