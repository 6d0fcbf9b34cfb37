package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/** RULER vt: one chain of 4 hops hidden in repeated noise, after one short few-shot example. */
final class VariableTrackingTask implements Task {
    static final String CONTEXT = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n";
    static final String QUERY = "Question: Find all variables that are assigned the value {value} in the text above.";
    static final String PREFIX = " Answer: According to the chain(s) of variable assignment in the text above, 5 variables are assigned the value {value}, they are: ";
    private final ProseGrammar grammar;

    VariableTrackingTask(ProseGrammar grammar) {
        this.grammar = grammar;
    }

    @Override public String name() { return "vt"; }
    @Override public int generationBudget() { return 30; }
    @Override public Metric metric() { return Metric.STRING_MATCH_ALL; }
    @Override public int increment(int length) { return 10; }

    private static List<String> names(RandomGenerator rng, int n, int letters) {
        List<String> out = new ArrayList<>();
        while (out.size() < n) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < letters; i++) sb.append((char) ('A' + rng.nextInt(26)));
            if (!out.contains(sb.toString())) out.add(sb.toString());
        }
        return out;
    }

    /** Noise units (the repeat line plus newline) joined by spaces, the chain at sorted random slots. */
    private String body(RandomGenerator rng, List<String> names, int value, int noise, List<String> chainOut) {
        List<String> chain = new ArrayList<>();
        chain.add("VAR " + names.get(0) + " = " + value);
        for (int i = 1; i < names.size(); i++) chain.add("VAR " + names.get(i) + " = VAR " + names.get(i - 1));
        chainOut.addAll(chain);
        List<String> sents = new ArrayList<>();
        for (int i = 0; i < noise; i++) sents.add(grammar.repeatLine() + "\n");
        List<Integer> slots = new ArrayList<>();
        for (int i = 0; i < noise; i++) slots.add(i);
        java.util.Collections.shuffle(slots, rng);
        List<Integer> pos = new ArrayList<>();
        for (int j = 0; j < chain.size(); j++) pos.add(j < slots.size() ? slots.get(j) : noise);
        pos.sort(null);
        for (int j = 0; j < chain.size(); j++) sents.add(Math.min(pos.get(j) + j, sents.size()), chain.get(j));
        return String.join(" ", sents).replace(". \n", ".\n");
    }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        List<String> exNames = names(rng, 5, 3);
        int exValue = rng.nextInt(10000, 99999);
        String exBody = body(rng, exNames, exValue, 5, new ArrayList<>());
        String example = CONTEXT.replace("{context}", exBody) + QUERY.replace("{value}", "" + exValue)
                + PREFIX.replace("{value}", "" + exValue) + String.join(" ", exNames);
        List<String> names = names(rng, 5, 5);
        int value = rng.nextInt(10000, 99999);
        List<String> chain = new ArrayList<>();
        String body = body(rng, names, value, units, chain);
        String context = example + "\n\n" + CONTEXT.replace("{context}", body);
        return new TaskText(context, QUERY.replace("{value}", "" + value), PREFIX.replace("{value}", "" + value),
                String.join(" ", names), names, chain);
    }
}
