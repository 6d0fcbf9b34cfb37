package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * BABILong-style qa1-qa5: the facts of a generated bAbI story scattered, in order, through filler
 * prose (the same grammar as the essay haystack, without sentences that name bAbI people, places or
 * objects). Units are filler sentences. Instructions, examples and post-prompts are our own words.
 */
final class BabilongTask implements Task {
    private static final List<String> BABI_WORDS = List.of("bathroom", "bedroom", "garden", "hallway", "kitchen", "office",
            "apple", "football", "milk", "mary", "john", "daniel", "sandra", "bill", "fred", "jeff",
            "north", "south", "east", "west");

    private static final String[] INSTRUCTIONS = {
        null,
        "The text below hides a few short facts about where some people go. Ignore everything else and use only those facts to answer where a person is now.",
        "The text below hides a few short facts about people moving around and picking up, carrying or putting down objects. An object that is carried goes wherever its carrier goes. Use only those facts to answer where an object is now.",
        "The text below hides a few short facts about people moving around and picking up, carrying or putting down objects. An object that is carried goes wherever its carrier goes. Use only those facts to answer where an object was just before it reached the place it is now.",
        "The text below hides two short facts about how places lie relative to each other (north, south, east, west). Use only those facts to answer which place lies in a given direction of another.",
        "The text below hides a few short facts about people moving, taking objects and handing them to each other. Use only those facts to answer who gave what to whom.",
    };
    private static final String[][] EXAMPLES = {
        null,
        {"John travelled to the office. Sandra went back to the bathroom. John moved to the garden.\nQuestion: Where is John?\nAnswer: The most recent location of John is the garden.",
         "Daniel journeyed to the kitchen. Mary went to the hallway.\nQuestion: Where is Mary?\nAnswer: The most recent location of Mary is the hallway."},
        {"Sandra picked up the apple there. Sandra went to the bedroom. Daniel moved to the office.\nQuestion: Where is the apple?\nAnswer: The apple is in the bedroom.",
         "John went to the garden. John took the milk. John travelled to the hallway. John dropped the milk.\nQuestion: Where is the milk?\nAnswer: The milk is in the hallway."},
        {"Mary grabbed the football. Mary went to the office. Mary journeyed to the kitchen.\nQuestion: Where was the football before the kitchen?\nAnswer: Before the kitchen, the football was in the office.",
         "Daniel took the milk there. Daniel moved to the garden. Daniel went back to the bathroom. Daniel left the milk.\nQuestion: Where was the milk before the bathroom?\nAnswer: Before the bathroom, the milk was in the garden."},
        {"The office is east of the hallway. The kitchen is north of the hallway.\nQuestion: What is north of the hallway?\nAnswer: The kitchen is north of the hallway.",
         "The garden is west of the bedroom. The bedroom is south of the bathroom.\nQuestion: What is the bedroom east of?\nAnswer: The bedroom is east of the garden."},
        {"Fred picked up the milk. Fred handed the milk to Jeff. Bill went to the garden.\nQuestion: Who received the milk?\nAnswer: Jeff received the milk.",
         "Mary took the apple there. Mary gave the apple to Bill. Jeff moved to the office.\nQuestion: What did Mary give to Bill?\nAnswer: Mary gave the apple to Bill.",
         "Jeff grabbed the football. Jeff passed the football to Fred.\nQuestion: Who gave the football?\nAnswer: Jeff gave the football."},
    };
    private static final String[] POST = {
        null,
        "Answer with one sentence of the form 'The most recent location of <person> is the <place>.' and write nothing after it.",
        "Answer with one sentence of the form 'The <object> is in the <place>.' and write nothing after it.",
        "Answer with one sentence of the form 'Before the <place>, the <object> was in the <place>.' and write nothing after it.",
        "Answer with one sentence of the form 'The <place> is <direction> of the <place>.' and write nothing after it.",
        "Answer with one short sentence that names the person or object asked for, as in the examples, and write nothing after it.",
    };

    private final int number;
    private final ProseGrammar grammar;

    BabilongTask(int number, ProseGrammar grammar) {
        if (number < 1 || number > 5) throw new IllegalArgumentException("BABILong tasks are qa1-qa5");
        this.number = number;
        this.grammar = grammar;
    }

    @Override public String name() { return "qa" + number; }
    @Override public int generationBudget() { return 128; }
    @Override public Metric metric() { return Metric.BABILONG_LABELS; }
    @Override public List<String> labels() { return number == 5 ? Metric.QA5_LABELS : Metric.LOCATION_LABELS; }
    @Override public int increment(int length) { return 10; }

    static boolean fillerOk(String sentence) {
        String s = sentence.toLowerCase(Locale.ROOT);
        for (String w : s.split("[^a-z]+")) {
            if (w.isEmpty()) continue;
            for (String b : BABI_WORDS) if (w.equals(b) || w.equals(b + "s") || w.equals(b + "es")) return false;
        }
        return true;
    }

    /** Instruction, examples and post-prompt: the part of the context before the story. */
    String instructions() {
        StringBuilder sb = new StringBuilder(INSTRUCTIONS[number]).append("\n\n");
        for (String e : EXAMPLES[number]) sb.append("<example>\n").append(e).append("\n</example>\n");
        sb.append('\n').append(POST[number]);
        return sb.toString();
    }

    @Override
    public TaskText build(RandomGenerator rng, int units, int length) {
        BabiStory.Story story = BabiStory.generate(number, rng);
        // filler from its own stream, so the story does not depend on the number of units
        SplittableRandom frng = new SplittableRandom(rng.nextLong());
        List<String> sents = new ArrayList<>(units);
        while (sents.size() < units) {
            String s = grammar.sentence(frng);
            if (fillerOk(s)) sents.add(s);
        }
        List<Integer> gaps = new ArrayList<>();
        for (int i = 0; i < story.facts().size(); i++) gaps.add(rng.nextInt(units + 1));
        gaps.sort(null);
        List<String> text = new ArrayList<>(sents);
        for (int i = story.facts().size() - 1; i >= 0; i--) text.add(gaps.get(i), story.facts().get(i));
        String context = instructions() + "\n\n<context>\n" + String.join(" ", text) + "\n</context>\n\n";
        return new TaskText(context, "Question: " + story.question(), "", story.answerSentence(),
                List.of(story.target()), story.facts());
    }
}
