package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.random.RandomGenerator;

/** RULER's eight needle-in-a-haystack tasks. */
final class NiahTask implements Task {
    enum Haystack { REPEAT, NEEDLE, ESSAY }
    enum Kind { WORDS, NUMBERS, UUIDS }

    static final String NEEDLE = "One of the special magic {types} for {key} is: {value}.";
    static final String CONTEXT = "Some special magic {types} are hidden within the following text. Make sure to memorize it. I will quiz you about the {types} afterwards.\n";
    static final String QUERY = "What are all the special magic {types} for {query} mentioned in the provided text?";
    static final String PREFIX = " The special magic {types} for {query} mentioned in the provided text are";
    /** RULER's 40 needle depths: round(linspace(0, 100, 40)). */
    static final int[] DEPTHS = new int[40];

    static {
        for (int i = 0; i < 40; i++) DEPTHS[i] = (int) Math.round(100.0 * i / 39);
    }

    private final String name;
    private final Haystack haystack;
    private final Kind key, value;
    private final int k, v, q;
    private final ProseGrammar grammar;
    private final EssayCorpus essay;

    NiahTask(String name, Haystack haystack, Kind key, Kind value, int k, int v, int q, ProseGrammar grammar, long seed) {
        this.name = name;
        this.haystack = haystack;
        this.key = key;
        this.value = value;
        this.k = k;
        this.v = v;
        this.q = q;
        this.grammar = grammar;
        this.essay = haystack == Haystack.ESSAY ? new EssayCorpus(grammar, seed) : null;
    }

    static NiahTask create(String name, ProseGrammar g, long seed) {
        return switch (name) {
            case "niah_single_1" -> new NiahTask(name, Haystack.REPEAT, Kind.WORDS, Kind.NUMBERS, 1, 1, 1, g, seed);
            case "niah_single_2" -> new NiahTask(name, Haystack.ESSAY, Kind.WORDS, Kind.NUMBERS, 1, 1, 1, g, seed);
            case "niah_single_3" -> new NiahTask(name, Haystack.ESSAY, Kind.WORDS, Kind.UUIDS, 1, 1, 1, g, seed);
            case "niah_multikey_1" -> new NiahTask(name, Haystack.ESSAY, Kind.WORDS, Kind.NUMBERS, 4, 1, 1, g, seed);
            case "niah_multikey_2" -> new NiahTask(name, Haystack.NEEDLE, Kind.WORDS, Kind.NUMBERS, 1, 1, 1, g, seed);
            case "niah_multikey_3" -> new NiahTask(name, Haystack.NEEDLE, Kind.UUIDS, Kind.UUIDS, 1, 1, 1, g, seed);
            case "niah_multivalue" -> new NiahTask(name, Haystack.ESSAY, Kind.WORDS, Kind.NUMBERS, 1, 4, 1, g, seed);
            case "niah_multiquery" -> new NiahTask(name, Haystack.ESSAY, Kind.WORDS, Kind.NUMBERS, 4, 1, 4, g, seed);
            default -> null;
        };
    }

    @Override public String name() { return name; }
    @Override public int generationBudget() { return 128; }
    @Override public Metric metric() { return Metric.STRING_MATCH_ALL; }

    @Override
    public int increment(int length) {
        if (haystack == Haystack.ESSAY) return 500;
        return length < 4096 ? 5 : 25;
    }

    /** RULER's rewrite to the singular, applied to task templates only (never to the system prompt). */
    static String singularize(String template) {
        return template.replace("Some", "A").replace("are all", "is").replace("are", "is");
    }

    static String joinKeys(List<String> keys) {
        if (keys.size() == 1) return keys.get(0);
        return String.join(", ", keys.subList(0, keys.size() - 1)) + ", and " + keys.get(keys.size() - 1);
    }

    static String uuid(RandomGenerator rng) {
        long hi = rng.nextLong(), lo = rng.nextLong();
        hi = (hi & ~0xF000L) | 0x4000L;
        lo = (lo & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        return new java.util.UUID(hi, lo).toString();
    }

    private String draw(Kind kind, RandomGenerator rng) {
        return switch (kind) {
            case WORDS -> grammar.wordKey(rng);
            case NUMBERS -> Integer.toString(rng.nextInt(1_000_000, 10_000_000));
            case UUIDS -> uuid(rng);
        };
    }

    private String typeWord(boolean singular) {
        String t = value == Kind.NUMBERS ? "number" : value == Kind.UUIDS ? "uuid" : "word";
        return singular ? t : t + "s";
    }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        Set<String> used = new LinkedHashSet<>();
        List<String> keys = new ArrayList<>();
        while (keys.size() < k) {
            String kk = draw(key, rng);
            if (used.add(kk)) keys.add(kk);
        }
        List<List<String>> values = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            List<String> vs = new ArrayList<>();
            while (vs.size() < v) {
                String vv = draw(value, rng);
                if (used.add(vv)) vs.add(vv);
            }
            values.add(vs);
        }
        String plural = typeWord(false);
        List<String> needles = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            for (String vv : values.get(i)) needles.add(NEEDLE.replace("{types}", plural).replace("{key}", keys.get(i)).replace("{value}", vv));
        }
        java.util.Collections.shuffle(needles, rng);
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < k; i++) idx.add(i);
        java.util.Collections.shuffle(idx, rng);
        List<String> queryKeys = new ArrayList<>();
        List<String> answers = new ArrayList<>();
        for (int i = 0; i < q; i++) {
            queryKeys.add(keys.get(idx.get(i)));
            answers.addAll(values.get(idx.get(i)));
        }
        boolean singular = q * v == 1;
        String type = typeWord(singular);
        String ctxT = singular ? singularize(CONTEXT) : CONTEXT;
        String qT = singular ? singularize(QUERY) : QUERY;
        String pT = singular ? singularize(PREFIX) : PREFIX;
        String queryStr = joinKeys(queryKeys);

        String hay;
        if (haystack == Haystack.ESSAY) {
            List<String> sents = essay.firstWords(units);
            List<Integer> depths = new ArrayList<>();
            for (int d : DEPTHS) depths.add(d);
            java.util.Collections.shuffle(depths, rng);
            List<Integer> pos = new ArrayList<>();
            for (int i = 0; i < needles.size(); i++) pos.add((int) (sents.size() * (depths.get(i) / 100.0)));
            pos.sort(null);
            List<String> pieces = new ArrayList<>();
            int last = 0;
            for (int i = 0; i < needles.size(); i++) {
                if (pos.get(i) > last) pieces.add(String.join(" ", sents.subList(last, pos.get(i))));
                pieces.add(needles.get(i));
                last = pos.get(i);
            }
            if (last < sents.size()) pieces.add(String.join(" ", sents.subList(last, sents.size())));
            hay = String.join(" ", pieces);
        } else {
            List<String> lines = new ArrayList<>();
            for (int i = 0; i < units; i++) {
                if (haystack == Haystack.REPEAT) {
                    lines.add(grammar.repeatLine());
                } else {
                    String dk;
                    do dk = draw(key, rng); while (used.contains(dk));
                    lines.add(NEEDLE.replace("{types}", plural).replace("{key}", dk).replace("{value}", draw(value, rng)));
                }
            }
            // distinct random unit positions, inserted from the back (RULER's order)
            List<Integer> slots = new ArrayList<>();
            for (int i = 0; i <= units; i++) slots.add(i);
            java.util.Collections.shuffle(slots, rng);
            List<Integer> at = new ArrayList<>();
            for (int i = 0; i < needles.size(); i++) at.add(slots.get(i % slots.size()));
            at.sort(java.util.Comparator.reverseOrder());
            for (int i = 0; i < needles.size(); i++) lines.add(at.get(i), needles.get(i));
            hay = String.join("\n", lines);
        }
        String context = ctxT.replace("{types}", type) + hay + "\n";
        String query = qT.replace("{types}", type).replace("{query}", queryStr);
        String prefix = pT.replace("{types}", type).replace("{query}", queryStr);
        String answer = " " + String.join(", ", answers) + ".";
        return new TaskText(context, query, prefix, answer, answers, needles);
    }
}
