package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;
import java.util.random.RandomGenerator;

/**
 * RULER cwe: 10 common words repeated c times and n-10 uncommon words repeated u times, shuffled,
 * numbered. RULER's 300/30 copies need about 16K tokens; shorter lengths get fewer copies (see
 * {@link #copies}) so the list always has room for uncommon words (the reference's 8K sample had none).
 */
final class CommonWordsTask implements Task {
    static final String CONTEXT = "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\n";
    static final String QUERY = "Question: What are the 10 most common words in the above list?";
    static final String PREFIX = " Answer: The top 10 words that appear most often in the list are:";
    private final ProseGrammar grammar;
    private final ToIntFunction<String> tokens;
    private double entryTokens = -1;

    CommonWordsTask(ProseGrammar grammar, ToIntFunction<String> tokens) {
        this.grammar = grammar;
        this.tokens = tokens;
    }

    @Override public String name() { return "cwe"; }
    @Override public int generationBudget() { return 120; }
    @Override public Metric metric() { return Metric.STRING_MATCH_ALL; }
    @Override public int increment(int length) { return 10; }
    @Override public int minUnits() { return 11; }

    /** Tokens per list entry {@code " 123. word"}, measured with the model's tokenizer. */
    private synchronized double entryTokens() {
        if (entryTokens < 0) {
            List<String> w = grammar.cweWords();
            StringBuilder sb = new StringBuilder();
            int n = Math.min(200, w.size());
            for (int i = 0; i < n; i++) sb.append(i == 0 ? "" : " ").append(i + 101).append(". ").append(w.get(i));
            entryTokens = Math.max(1.0, tokens.applyAsInt(sb.toString()) / (double) n);
        }
        return entryTokens;
    }

    /**
     * {common copies, uncommon copies} at length L: 6/1 below 4K, else 300/30, scaled down so that the
     * common words fill at most ~65% of what the few-shot example (190 entries) and G leave.
     */
    int[] copies(int length) {
        if (length < 4096) return new int[] {6, 1};
        double room = length - generationBudget() - 190 * entryTokens() - 120;
        int c = (int) Math.min(300, Math.floor(0.65 * room / (10 * entryTokens())));
        c = Math.max(2, c);
        return new int[] {c, Math.max(1, (int) Math.round(c / 10.0))};
    }

    @Override
    public String note(int length) {
        int[] c = copies(length);
        if (c[0] == 300 && c[1] == 30) return null;
        return "cwe at " + length + " tokens: common words x" + c[0] + ", uncommon x" + c[1]
                + " (RULER's 300/30 need about 16K tokens; scaled down)";
    }

    private static String numbered(List<String> words) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words.size(); i++) sb.append(i == 0 ? "" : " ").append(i + 1).append(". ").append(words.get(i));
        return sb.toString();
    }

    private static List<String> list(RandomGenerator rng, List<String> words, int c, int u) {
        List<String> l = new ArrayList<>();
        for (int i = 0; i < 10; i++) for (int j = 0; j < c; j++) l.add(words.get(i));
        for (int i = 10; i < words.size(); i++) for (int j = 0; j < u; j++) l.add(words.get(i));
        java.util.Collections.shuffle(l, rng);
        return l;
    }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        List<String> pool = new ArrayList<>(grammar.cweWords());
        int maxWords = pool.size() - (length < 4096 ? 20 : 40);
        if (units > maxWords) throw new IllegalArgumentException("cwe needs more distinct words (" + units + ") than the word list has (" + maxWords + ")");
        java.util.Collections.shuffle(pool, rng);
        boolean small = length < 4096;
        List<String> exWords = pool.subList(0, small ? 20 : 40);
        List<String> exList = list(rng, exWords, small ? 3 : 10, small ? 1 : 3);
        String example = CONTEXT.replace("{context}", numbered(exList)) + QUERY + PREFIX + " " + numbered(exWords.subList(0, 10));
        List<String> words = pool.subList(exWords.size(), exWords.size() + units);
        int[] c = copies(length);
        String body = numbered(list(rng, words, c[0], c[1]));
        List<String> common = List.copyOf(words.subList(0, 10));
        String context = example + "\n" + CONTEXT.replace("{context}", body);
        return new TaskText(context, QUERY, PREFIX, " " + numbered(common), common, List.of());
    }
}
