package dev.starattn.app.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The seeded prose grammar that stands in for the Paul Graham essays (RULER's essay haystack) and
 * for BABILong's filler text. A Java port of {@code Grammar} in tools/train/data.py, reading the
 * same {@code prose_grammar.json} (shipped as a resource), so the evaluation's prose has the style the
 * shipped model was trained on: a sentence is one template drawn uniformly, each {slot} filled left
 * to right by a uniform draw from its list, then "a" before a vowel becomes "an", and the first
 * character is upper-cased. The prose never contains "special magic".
 */
public final class ProseGrammar {
    private static final Pattern SLOT = Pattern.compile("\\{(\\w+)\\}");
    private static final Pattern ARTICLE = Pattern.compile("(?<![A-Za-z])([Aa]) (?=[AEIOUaeiou])");
    private static volatile ProseGrammar standard;

    private final List<String> templates;
    private final Map<String, List<String>> lists;
    private final List<String> keyAdjectives;
    private final List<String> keyNouns;
    private final List<String> cweWords;
    private final String repeatLine;

    private ProseGrammar(JsonNode d) {
        templates = strings(d.get("templates"));
        lists = new HashMap<>();
        d.get("lists").properties().forEach(e -> lists.put(e.getKey(), strings(e.getValue())));
        keyAdjectives = strings(d.get("key_adjectives"));
        keyNouns = strings(d.get("key_nouns"));
        cweWords = strings(d.get("cwe_words"));
        repeatLine = d.get("repeat_line").asText();
        for (String t : templates) {
            Matcher m = SLOT.matcher(t);
            while (m.find()) {
                if (!lists.containsKey(m.group(1))) throw new IllegalStateException("prose grammar: no list for slot " + m.group(1));
            }
        }
    }

    /** The grammar shipped with the evaluation. */
    public static ProseGrammar standard() {
        ProseGrammar g = standard;
        if (g == null) {
            try (InputStream in = ProseGrammar.class.getResourceAsStream("prose_grammar.json")) {
                if (in == null) throw new IllegalStateException("prose_grammar.json is missing from the eval resources");
                g = new ProseGrammar(new ObjectMapper().readTree(in));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            standard = g;
        }
        return g;
    }

    private static List<String> strings(JsonNode a) {
        List<String> out = new ArrayList<>();
        a.forEach(n -> out.add(n.asText()));
        return List.copyOf(out);
    }

    static <T> T pick(List<T> l, RandomGenerator rng) {
        return l.get(rng.nextInt(l.size()));
    }

    /** One sentence. */
    public String sentence(RandomGenerator rng) {
        String t = pick(templates, rng);
        Matcher m = SLOT.matcher(t);
        StringBuilder sb = new StringBuilder();
        while (m.find()) m.appendReplacement(sb, Matcher.quoteReplacement(pick(lists.get(m.group(1)), rng)));
        m.appendTail(sb);
        String s = ARTICLE.matcher(sb).replaceAll("$1n ");
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    /** A RULER "words" key: {@code adjective-noun}. */
    public String wordKey(RandomGenerator rng) {
        return pick(keyAdjectives, rng) + "-" + pick(keyNouns, rng);
    }

    public List<String> cweWords() {
        return cweWords;
    }

    public String repeatLine() {
        return repeatLine;
    }
}
