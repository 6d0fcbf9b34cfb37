package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * bAbI-style stories (Weston et al.) for BABILong qa1-qa5: a simulated world of people, six
 * locations and three objects, where carried objects move with their carrier and initial
 * positions are never stated; a question is asked only when the story determines its answer.
 */
final class BabiStory {
    static final List<String> LOCATIONS = Metric.LOCATION_LABELS;
    static final List<String> OBJECTS = List.of("apple", "football", "milk");
    static final String[] MOVE = {"went to", "journeyed to", "travelled to", "moved to", "went back to"};
    static final String[] GET = {"got", "took", "picked up", "grabbed"};
    static final String[] DROP = {"dropped", "discarded", "put down", "left"};
    static final String[] GIVE = {"gave", "handed", "passed"};
    static final String[] DIRS = {"north", "south", "east", "west"};

    /** A story: facts in order, a question, the target label and an answer sentence in the examples' shape. */
    record Story(List<String> facts, String question, String target, String answerSentence) {}

    private BabiStory() {}

    private static <T> T pick(List<T> l, RandomGenerator rng) {
        return l.get(rng.nextInt(l.size()));
    }

    private static String pick(String[] a, RandomGenerator rng) {
        return a[rng.nextInt(a.length)];
    }

    static Story generate(int task, RandomGenerator rng) {
        for (int attempt = 0; attempt < 1000; attempt++) {
            Story s = switch (task) {
                case 1 -> qa1(rng);
                case 2, 3 -> qa23(task, rng);
                case 4 -> qa4(rng);
                case 5 -> qa5(rng);
                default -> throw new IllegalArgumentException("BABILong task qa" + task + " is not one of qa1-qa5");
            };
            if (s != null) return s;
        }
        throw new IllegalStateException("could not generate a determined qa" + task + " story");
    }

    /** The world: true positions of people and objects (objects carried by at most one person). */
    private static final class World {
        final Map<String, String> at = new HashMap<>();
        final Set<String> personKnown = new HashSet<>();
        final Map<String, String> carrier = new HashMap<>();
        final Set<String> objectKnown = new HashSet<>();
        final Map<String, List<String>> history = new HashMap<>();
        final Set<String> everTaken = new HashSet<>();
        final List<String> facts = new ArrayList<>();
        final List<String[]> gives = new ArrayList<>();

        World(List<String> people, RandomGenerator rng) {
            for (String p : people) at.put(p, pick(LOCATIONS, rng));
            for (String o : OBJECTS) {
                at.put(o, pick(LOCATIONS, rng));
                history.put(o, new ArrayList<>());
            }
        }

        void noteObject(String o) {
            if (!objectKnown.contains(o)) return;
            List<String> h = history.get(o);
            if (h.isEmpty() || !h.getLast().equals(at.get(o))) h.add(at.get(o));
        }

        void move(String p, String loc, RandomGenerator rng) {
            facts.add(p + " " + pick(MOVE, rng) + " the " + loc + ".");
            at.put(p, loc);
            personKnown.add(p);
            for (String o : OBJECTS) {
                if (p.equals(carrier.get(o))) {
                    if (!objectKnown.contains(o)) history.get(o).clear();
                    at.put(o, loc);
                    objectKnown.add(o);
                    noteObject(o);
                }
            }
        }

        void get(String p, String o, RandomGenerator rng) {
            facts.add(p + " " + pick(GET, rng) + " the " + o + (rng.nextBoolean() ? " there." : "."));
            carrier.put(o, p);
            everTaken.add(o);
            if (personKnown.contains(p)) objectKnown.add(o);
            noteObject(o);
        }

        void drop(String p, String o, RandomGenerator rng) {
            facts.add(p + " " + pick(DROP, rng) + " the " + o + (rng.nextBoolean() ? " there." : "."));
            carrier.remove(o);
            if (personKnown.contains(p)) objectKnown.add(o);
            noteObject(o);
        }

        void give(String p, String q, String o, RandomGenerator rng) {
            facts.add(p + " " + pick(GIVE, rng) + " the " + o + " to " + q + ".");
            carrier.put(o, q);
            gives.add(new String[] {p, o, q});
        }

        /** One random valid action among those allowed. */
        void step(List<String> people, boolean objects, boolean gives, RandomGenerator rng) {
            String p = pick(people, rng);
            List<Runnable> options = new ArrayList<>();
            String here = at.get(p);
            options.add(() -> {
                String loc;
                do loc = pick(LOCATIONS, rng); while (loc.equals(here));
                move(p, loc, rng);
            });
            if (objects) {
                for (String o : OBJECTS) {
                    if (!carrier.containsKey(o) && at.get(o).equals(here)) options.add(() -> get(p, o, rng));
                    if (p.equals(carrier.get(o))) {
                        options.add(() -> drop(p, o, rng));
                        if (gives) {
                            for (String q : people) {
                                if (!q.equals(p) && at.get(q).equals(here)) {
                                    options.add(() -> give(p, q, o, rng));
                                    options.add(() -> give(p, q, o, rng));
                                }
                            }
                        }
                    }
                }
                // objects start where people are often enough to be picked up
                if (options.size() == 1 && rng.nextInt(3) == 0) {
                    for (String o : OBJECTS) {
                        if (!carrier.containsKey(o) && !objectKnown.contains(o)) {
                            at.put(o, here);
                            options.add(() -> get(p, o, rng));
                            break;
                        }
                    }
                }
            }
            options.get(rng.nextInt(options.size())).run();
        }
    }

    private static Story qa1(RandomGenerator rng) {
        List<String> people = List.of("Mary", "John", "Daniel", "Sandra");
        World w = new World(people, rng);
        int n = rng.nextInt(2, 11);
        for (int i = 0; i < n; i++) w.step(people, false, false, rng);
        List<String> known = new ArrayList<>(w.personKnown);
        known.sort(null);
        if (known.isEmpty()) return null;
        String p = pick(known, rng);
        String loc = w.at.get(p);
        return new Story(w.facts, "Where is " + p + "?", loc, "The most recent location of " + p + " is the " + loc + ".");
    }

    private static Story qa23(int task, RandomGenerator rng) {
        List<String> people = List.of("Mary", "John", "Daniel", "Sandra");
        World w = new World(people, rng);
        int n = task == 2 ? rng.nextInt(4, 17) : rng.nextInt(6, 21);
        for (int i = 0; i < n; i++) w.step(people, true, false, rng);
        List<String> candidates = new ArrayList<>();
        for (String o : OBJECTS) {
            if (!w.everTaken.contains(o) || !w.objectKnown.contains(o)) continue;
            if (task == 3) {
                List<String> h = w.history.get(o);
                if (h.size() < 2 || !h.getLast().equals(w.at.get(o)) || h.indexOf(h.getLast()) != h.size() - 1) continue;
            }
            candidates.add(o);
        }
        if (candidates.isEmpty()) return null;
        String o = pick(candidates, rng);
        String loc = w.at.get(o);
        if (task == 2) return new Story(w.facts, "Where is the " + o + "?", loc, "The " + o + " is in the " + loc + ".");
        List<String> h = w.history.get(o);
        String before = h.get(h.size() - 2);
        return new Story(w.facts, "Where was the " + o + " before the " + loc + "?", before,
                "Before the " + loc + ", the " + o + " was in the " + before + ".");
    }

    private static String opposite(String d) {
        return switch (d) {
            case "north" -> "south";
            case "south" -> "north";
            case "east" -> "west";
            default -> "east";
        };
    }

    private static Story qa4(RandomGenerator rng) {
        List<String> locs = new ArrayList<>(LOCATIONS);
        java.util.Collections.shuffle(locs, rng);
        String y = locs.get(0), x1 = locs.get(1), x2 = locs.get(2);
        String d1 = pick(DIRS, rng), d2 = pick(DIRS, rng);
        // relations (a, d, b): a is d of b; each fact shares y, either as subject or object
        List<String[]> rel = new ArrayList<>();
        List<String> facts = new ArrayList<>();
        for (String[] f : new String[][] {{x1, d1}, {x2, d2}}) {
            String[] r = rng.nextBoolean() ? new String[] {f[0], f[1], y} : new String[] {y, f[1], f[0]};
            rel.add(r);
            facts.add("The " + r[0] + " is " + r[1] + " of the " + r[2] + ".");
        }
        List<String[]> all = new ArrayList<>(rel);
        for (String[] r : rel) all.add(new String[] {r[2], opposite(r[1]), r[0]});
        // candidate questions with a unique answer
        List<String[]> qs = new ArrayList<>();
        for (String[] r : all) {
            Set<String> a1 = new LinkedHashSet<>(), a2 = new LinkedHashSet<>();
            for (String[] s : all) {
                if (s[1].equals(r[1]) && s[2].equals(r[2])) a1.add(s[0]);
                if (s[0].equals(r[0]) && s[1].equals(r[1])) a2.add(s[2]);
            }
            String sentence = "The " + r[0] + " is " + r[1] + " of the " + r[2] + ".";
            if (a1.size() == 1) qs.add(new String[] {"What is " + r[1] + " of the " + r[2] + "?", r[0], sentence});
            if (a2.size() == 1) qs.add(new String[] {"What is the " + r[0] + " " + r[1] + " of?", r[2], sentence});
        }
        if (qs.isEmpty()) return null;
        String[] q = qs.get(rng.nextInt(qs.size()));
        return new Story(facts, q[0], q[1], q[2]);
    }

    private static Story qa5(RandomGenerator rng) {
        List<String> people = List.of("Bill", "Fred", "Jeff", "Mary");
        World w = new World(people, rng);
        int steps = 0;
        while (w.gives.isEmpty() && steps++ < 60) w.step(people, true, true, rng);
        if (w.gives.isEmpty()) return null;
        int extra = rng.nextInt(0, 6);
        for (int i = 0; i < extra; i++) w.step(people, true, false, rng);
        String[] g = w.gives.getLast();
        String a = g[0], o = g[1], b = g[2];
        String[][] qs = {
            {"What did " + a + " give to " + b + "?", o, a + " gave the " + o + " to " + b + "."},
            {"Who gave the " + o + "?", a, a + " gave the " + o + "."},
            {"Who gave the " + o + " to " + b + "?", a, a + " gave the " + o + " to " + b + "."},
            {"Who did " + a + " give the " + o + " to?", b, a + " gave the " + o + " to " + b + "."},
            {"Who received the " + o + "?", b, b + " received the " + o + "."},
        };
        String[] q = qs[rng.nextInt(qs.length)];
        // the answer must be unique over every give in the story
        Set<String> answers = new HashSet<>();
        for (String[] h : w.gives) {
            if (q[0].startsWith("What did ") && h[0].equals(a) && h[2].equals(b)) answers.add(h[1]);
            else if (q[0].startsWith("Who gave the ") && q[0].endsWith(o + "?") && h[1].equals(o)) answers.add(h[0]);
            else if (q[0].startsWith("Who gave the ") && q[0].contains(" to ") && h[1].equals(o) && h[2].equals(b)) answers.add(h[0]);
            else if (q[0].startsWith("Who did ") && h[0].equals(a) && h[1].equals(o)) answers.add(h[2]);
            else if (q[0].startsWith("Who received ") && h[1].equals(o)) answers.add(h[2]);
        }
        if (answers.size() != 1) return null;
        return new Story(w.facts, q[0], q[1].toLowerCase(java.util.Locale.ROOT), q[2]);
    }
}
