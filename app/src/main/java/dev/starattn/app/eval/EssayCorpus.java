package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The essay haystack: one long, seeded stream of grammar prose, shared by every sample (as RULER
 * shares the Paul Graham essays); a haystack of n units is its first n words, kept split into sentences.
 */
final class EssayCorpus {
    private final ProseGrammar grammar;
    private final SplittableRandom rng;
    private final List<String[]> sentences = new ArrayList<>();
    private final List<Integer> wordsBefore = new ArrayList<>();
    private int words;

    EssayCorpus(ProseGrammar grammar, long seed) {
        this.grammar = grammar;
        this.rng = new SplittableRandom(seed ^ 0x5EED_E55A_7L);
    }

    /** The first n words as sentences (the last one cut where the n-th word falls). */
    synchronized List<String> firstWords(int n) {
        while (words < n) {
            String[] s = grammar.sentence(rng).split(" ");
            wordsBefore.add(words);
            sentences.add(s);
            words += s.length;
        }
        List<String> out = new ArrayList<>();
        int taken = 0;
        for (int i = 0; taken < n; i++) {
            String[] s = sentences.get(i);
            int k = Math.min(s.length, n - taken);
            out.add(k == s.length ? String.join(" ", s) : String.join(" ", java.util.Arrays.copyOf(s, k)));
            taken += k;
        }
        return out;
    }
}
