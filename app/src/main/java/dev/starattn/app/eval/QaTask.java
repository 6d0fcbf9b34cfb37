package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * Self-contained substitutes for RULER's qa_1 (SQuAD) and qa_2 (HotpotQA): generated documents
 * about made-up entities, with same-topic distractor documents. qa_1 asks a single fact
 * ("The capital of Velmora is Drust."); qa_2 needs two ("X was born in Y." + "Y lies in Z." ->
 * "In which country was X born?"). Their difficulty differs from the originals'.
 */
final class QaTask implements Task {
    static final String CONTEXT = "Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nThe following are given documents.\n\n{context}\n\n";
    static final String QUERY = "Answer the question based on the given documents. Only give me the answer and do not output any other words.\n\nQuestion: {question}";
    static final String PREFIX = " Answer:";

    private static final String[] ONSETS = {"b", "br", "d", "dr", "f", "g", "gr", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v", "z", "c", "h", "j"};
    private static final String[] VOWELS = {"a", "e", "i", "o", "u", "ai", "ea", "io", "ou"};
    private static final String[] CODAS = {"", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "x"};

    /** Single-fact topics: {fact template, question template, answer kind}. X = the entity, A = the answer. */
    private static final String[][] TOPICS = {
        {"The capital of {X} is {A}.", "What is the capital of {X}?", "country"},
        {"{X} was founded by {A}.", "Who founded {X}?", "company"},
        {"The river {X} flows into Lake {A}.", "Into which lake does the river {X} flow?", "river"},
        {"The chemist {X} discovered the mineral {A}.", "Which mineral did the chemist {X} discover?", "chemist"},
        {"The ship {X} was built in the port of {A}.", "In which port was the ship {X} built?", "ship"},
    };
    private static final String[] PROFESSIONS = {"painter", "engineer", "poet", "sailor", "teacher", "merchant", "architect", "composer"};
    private static final String[] OBJECTS = {"bridges", "wool", "glass", "salt", "copper", "maps", "clocks", "boats", "tea", "paper"};

    private final String name;
    private final boolean twoHop;
    private final ProseGrammar grammar;

    QaTask(String name, boolean twoHop, ProseGrammar grammar) {
        this.name = name;
        this.twoHop = twoHop;
        this.grammar = grammar;
    }

    @Override public String name() { return name; }
    @Override public int generationBudget() { return 32; }
    @Override public Metric metric() { return Metric.STRING_MATCH_PART; }
    @Override public int increment(int length) { return 10; }
    @Override public int minUnits() { return twoHop ? 2 : 1; }

    static String madeUpName(RandomGenerator rng, Set<String> used) {
        while (true) {
            int syl = rng.nextInt(2, 4);
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < syl; i++) {
                sb.append(ONSETS[rng.nextInt(ONSETS.length)]).append(VOWELS[rng.nextInt(VOWELS.length)]);
                if (i == syl - 1) sb.append(CODAS[rng.nextInt(CODAS.length)]);
            }
            String s = Character.toUpperCase(sb.charAt(0)) + sb.substring(1);
            if (s.length() >= 4 && used.add(s)) return s;
        }
    }

    private String filler(RandomGenerator rng, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) sb.append(' ').append(grammar.sentence(rng));
        return sb.toString();
    }

    private String singleDoc(RandomGenerator rng, String[] topic, String x, String a, Set<String> used) {
        String fact = topic[0].replace("{X}", x).replace("{A}", a);
        String intro = switch (topic[2]) {
            case "country" -> x + " is a small country known for its " + OBJECTS[rng.nextInt(OBJECTS.length)] + ".";
            case "company" -> x + " is a company that makes " + OBJECTS[rng.nextInt(OBJECTS.length)] + ".";
            case "river" -> "The river " + x + " is " + rng.nextInt(40, 900) + " kilometres long.";
            case "chemist" -> x + " was a chemist who worked in the town of " + madeUpName(rng, used) + ".";
            default -> "The ship " + x + " carried " + OBJECTS[rng.nextInt(OBJECTS.length)] + " for " + rng.nextInt(5, 60) + " years.";
        };
        return intro + " " + fact + filler(rng, rng.nextInt(2, 5));
    }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        Set<String> used = new HashSet<>();
        List<String> docs = new ArrayList<>();
        List<String> evidence = new ArrayList<>();
        String question, answer;
        int gold;
        if (!twoHop) {
            String[] topic = TOPICS[rng.nextInt(TOPICS.length)];
            String x = madeUpName(rng, used), a = madeUpName(rng, used);
            question = topic[1].replace("{X}", x);
            answer = a;
            evidence.add(topic[0].replace("{X}", x).replace("{A}", a));
            docs.add(singleDoc(rng, topic, x, a, used));
            gold = 1;
            for (int i = 1; i < units; i++) {
                // most distractors share the question's topic, the rest are other topics
                String[] t = rng.nextInt(4) < 3 ? topic : TOPICS[rng.nextInt(TOPICS.length)];
                docs.add(singleDoc(rng, t, madeUpName(rng, used), madeUpName(rng, used), used));
            }
        } else {
            String person = madeUpName(rng, used), city = madeUpName(rng, used), country = madeUpName(rng, used);
            question = "In which country was " + person + " born?";
            answer = country;
            evidence.add(person + " was born in " + city + ".");
            evidence.add(city + " lies in " + country + ".");
            docs.add(personDoc(rng, person, city));
            docs.add(cityDoc(rng, city, country));
            gold = 2;
            for (int i = 2; i < units; i++) {
                if (rng.nextBoolean()) docs.add(personDoc(rng, madeUpName(rng, used), madeUpName(rng, used)));
                else docs.add(cityDoc(rng, madeUpName(rng, used), madeUpName(rng, used)));
            }
        }
        // gold documents at random places
        List<String> shuffled = new ArrayList<>(docs.subList(gold, docs.size()));
        java.util.Collections.shuffle(shuffled, rng);
        for (int g = 0; g < gold; g++) shuffled.add(rng.nextInt(shuffled.size() + 1), docs.get(g));
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < shuffled.size(); i++) {
            if (i > 0) sb.append("\n\n");
            sb.append("Document ").append(i + 1).append(":\n").append(shuffled.get(i));
        }
        return new TaskText(CONTEXT.replace("{context}", sb), QUERY.replace("{question}", question), PREFIX,
                " " + answer, List.of(answer), evidence);
    }

    private String personDoc(RandomGenerator rng, String person, String city) {
        return person + " was born in " + city + ". " + person + " worked as a " + PROFESSIONS[rng.nextInt(PROFESSIONS.length)]
                + " for " + rng.nextInt(3, 40) + " years." + filler(rng, rng.nextInt(2, 4));
    }

    private String cityDoc(RandomGenerator rng, String city, String country) {
        return city + " is a town of about " + rng.nextInt(2, 90) * 1000 + " people. " + city + " lies in " + country + "."
                + filler(rng, rng.nextInt(2, 4));
    }
}
