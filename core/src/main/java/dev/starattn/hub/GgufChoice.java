package dev.starattn.hub;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Which GGUF file of a repository that holds several: the one asked for ({@code --file}, by name or by
 * a quantization tag such as {@code Q4_K_M}), else the only one, else the Q8_0 one, else the Q4_K_M one.
 * Shards of a split file and multimodal projectors ({@code mmproj}) are never candidates: the engine
 * reads one whole language model file.
 */
public final class GgufChoice {
    private static final Pattern SPLIT_PART = Pattern.compile(".*-\\d{5}-of-\\d{5}\\.gguf", Pattern.CASE_INSENSITIVE);
    private static final List<String> PREFERRED = List.of("Q8_0", "Q4_K_M");

    private GgufChoice() {}

    /** The single-file GGUF models among the names (repository paths or file names). */
    public static List<String> candidates(List<String> names) {
        List<String> out = new ArrayList<>();
        for (String n : names) {
            String base = baseName(n).toLowerCase(Locale.ROOT);
            if (base.endsWith(".gguf") && !SPLIT_PART.matcher(base).matches() && !base.contains("mmproj")) out.add(n);
        }
        return out;
    }

    /**
     * The file to use among {@code names}; {@code wanted} may be null. Fails with one sentence naming
     * {@code what} (the repository) and the choices when none or several fit.
     */
    public static String pick(List<String> names, String wanted, String what) {
        List<String> ggufs = candidates(names);
        if (wanted != null) {
            for (String n : names) if (n.equals(wanted) || baseName(n).equals(wanted)) return n;
            List<String> tagged = withTag(ggufs, wanted);
            if (tagged.size() == 1) return tagged.getFirst();
            throw new dev.starattn.cli.UsageException(what + " has " + (tagged.isEmpty() ? "no" : "more than one") + " GGUF file matching '"
                    + wanted + "'" + choices(tagged.isEmpty() ? ggufs : tagged));
        }
        if (ggufs.isEmpty()) throw new dev.starattn.cli.UsageException(what + " holds no single-file GGUF model");
        if (ggufs.size() == 1) return ggufs.getFirst();
        for (String tag : PREFERRED) {
            List<String> tagged = withTag(ggufs, tag);
            if (tagged.size() == 1) return tagged.getFirst();
        }
        throw new dev.starattn.cli.UsageException(what + " holds " + ggufs.size() + " GGUF files; choose one with --file" + choices(ggufs));
    }

    private static List<String> withTag(List<String> ggufs, String tag) {
        Pattern p = Pattern.compile("(^|[^A-Za-z0-9])" + Pattern.quote(tag.toLowerCase(Locale.ROOT)) + "([^A-Za-z0-9]|$)");
        List<String> out = new ArrayList<>();
        for (String g : ggufs) {
            String base = baseName(g).toLowerCase(Locale.ROOT);
            if (p.matcher(base.substring(0, base.length() - ".gguf".length())).find()) out.add(g);
        }
        return out;
    }

    private static String choices(List<String> names) {
        if (names.isEmpty()) return "";
        List<String> shown = names.size() > 8 ? names.subList(0, 8) : names;
        return ": " + String.join(", ", shown) + (names.size() > 8 ? ", ..." : "");
    }

    static String baseName(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? path : path.substring(slash + 1);
    }
}
