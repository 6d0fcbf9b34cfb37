package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.random.RandomGenerator;

/** RULER fwe: Zipf(2)-distributed coded words; the answer is ranks 2-4 (rank 1 is the noise word "..."). */
final class FrequentWordsTask implements Task {
    static final String CONTEXT = "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\n";
    static final String QUERY = "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?";
    static final String PREFIX = " Answer: According to the coded text above, the three most frequently appeared words are:";
    static final double ZETA2 = Math.PI * Math.PI / 6;

    @Override public String name() { return "fwe"; }
    @Override public int generationBudget() { return 50; }
    @Override public Metric metric() { return Metric.STRING_MATCH_ALL; }
    @Override public int increment(int length) { return 10; }
    @Override public int minUnits() { return 200; }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        int vocabSize = Math.max(8, length / 50);
        Set<String> set = new LinkedHashSet<>();
        while (set.size() < vocabSize) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 6; i++) sb.append((char) ('a' + rng.nextInt(26)));
            set.add(sb.toString());
        }
        List<String> vocab = new ArrayList<>(set);
        java.util.Collections.sort(vocab);
        java.util.Collections.shuffle(vocab, rng);
        vocab.set(0, "...");
        List<String> words = new ArrayList<>();
        for (int k = 1; k <= vocab.size(); k++) {
            int cnt = (int) Math.floor(units * Math.pow(k, -2.0) / ZETA2);
            for (int j = 0; j < cnt; j++) words.add(vocab.get(k - 1));
        }
        java.util.Collections.shuffle(words, rng);
        List<String> ans = List.copyOf(vocab.subList(1, 4));
        return new TaskText(CONTEXT.replace("{context}", String.join(" ", words)), QUERY, PREFIX,
                " " + String.join(" ", ans), ans, List.of());
    }
}
