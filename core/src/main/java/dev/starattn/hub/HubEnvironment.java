package dev.starattn.hub;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The settings huggingface_hub reads from the environment, read the same way, plus llama.cpp's cache.
 *
 * @param endpoint   the Hub's base URL, without a trailing slash ({@code HF_ENDPOINT})
 * @param hubCache   the cache folder holding {@code models--ORG--NAME} ({@code HF_HUB_CACHE}, else
 *                   {@code HF_HOME/hub}, else {@code $XDG_CACHE_HOME/huggingface/hub}, else {@code ~/.cache/huggingface/hub})
 * @param token      a bearer token ({@code HF_TOKEN}, else the file {@code HF_TOKEN_PATH} or {@code HF_HOME/token}), may be empty
 * @param offline    {@code HF_HUB_OFFLINE} (or {@code TRANSFORMERS_OFFLINE}) is 1/ON/YES/TRUE: no network at all
 * @param llamaCache llama.cpp's download folder ({@code LLAMA_CACHE}, else {@code $XDG_CACHE_HOME/llama.cpp}, else {@code ~/.cache/llama.cpp})
 * @param llamaCacheSet whether {@code LLAMA_CACHE} was given: llama.cpp then also keeps its Hub-layout downloads there
 */
public record HubEnvironment(String endpoint, Path hubCache, Optional<String> token, boolean offline, Path llamaCache,
                             boolean llamaCacheSet) {
    /** The public Hub, when {@code HF_ENDPOINT} is not set (huggingface_hub's default). */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    private static final Set<String> TRUE_VALUES = Set.of("1", "ON", "YES", "TRUE");

    /** The environment of this process. */
    public static HubEnvironment fromSystem() {
        return from(System.getenv());
    }

    /** The environment given as a map (tests pass their own, so that nothing touches the user's caches). */
    public static HubEnvironment from(Map<String, String> env) {
        String endpoint = value(env, "HF_ENDPOINT").orElse(DEFAULT_ENDPOINT);
        while (endpoint.endsWith("/")) endpoint = endpoint.substring(0, endpoint.length() - 1);
        Path home = Path.of(value(env, "HOME").orElse(System.getProperty("user.home")));
        Path xdgCache = value(env, "XDG_CACHE_HOME").map(Path::of).orElse(home.resolve(".cache"));
        Path hfHome = value(env, "HF_HOME").map(Path::of).orElse(xdgCache.resolve("huggingface"));
        Path hubCache = value(env, "HF_HUB_CACHE").or(() -> value(env, "HUGGINGFACE_HUB_CACHE"))
                .map(Path::of).orElse(hfHome.resolve("hub"));
        Optional<String> token = value(env, "HF_TOKEN")
                .or(() -> readToken(value(env, "HF_TOKEN_PATH").map(Path::of).orElse(hfHome.resolve("token"))));
        boolean offline = isTrue(env.get("HF_HUB_OFFLINE")) || isTrue(env.get("TRANSFORMERS_OFFLINE"));
        Optional<String> llama = value(env, "LLAMA_CACHE");
        Path llamaCache = llama.map(Path::of).orElse(xdgCache.resolve("llama.cpp"));
        return new HubEnvironment(endpoint, hubCache, token.map(String::strip).filter(t -> !t.isEmpty()), offline,
                llamaCache, llama.isPresent());
    }

    /** A copy with another endpoint, cache and token (tests, and library users who configure in code). */
    public HubEnvironment with(String endpoint, Path hubCache, Optional<String> token, boolean offline) {
        return new HubEnvironment(endpoint, hubCache, token, offline, llamaCache, llamaCacheSet);
    }

    private static Optional<String> value(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
    }

    private static boolean isTrue(String v) {
        return v != null && TRUE_VALUES.contains(v.strip().toUpperCase(Locale.ROOT));
    }

    private static Optional<String> readToken(Path file) {
        try {
            return Files.isRegularFile(file) ? Optional.of(Files.readString(file)) : Optional.empty();
        } catch (java.io.IOException | SecurityException e) {
            return Optional.empty(); // an unreadable token file is the same as none: public repos still work
        }
    }
}
