package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.engine.AttentionMode;
import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shapes of the task texts: templates, singular/plural, answers, counts, and the stories' answers. */
class TaskShapesTest {
    static LoadedModel model;
    static PromptTokens base, llama3;

    @BeforeAll
    static void load() throws Exception {
        model = TinyModels.load();
        base = new PromptTokens(model, EvalTemplate.of(PromptTemplate.BASE));
        llama3 = new PromptTokens(model, EvalTemplate.of(PromptTemplate.LLAMA3));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void singularAndPluralTemplatesAndTheSystemPromptUntouched() {
        SampleBuilder b = new SampleBuilder(llama3, 1);
        EvalSample single = b.build("niah_single_1", 2048, 0).sample();
        String pre = PromptTemplate.LLAMA3.prefix(), suf = PromptTemplate.LLAMA3.suffix();
        assertTrue(single.inputContext().startsWith(pre + "A special magic number is hidden within the following text. "
                + "Make sure to memorize it. I will quiz you about the number afterwards.\n"), single.inputContext().substring(0, 300));
        assertTrue(single.inputContext().contains("You are a helpful assistant."));
        assertFalse(single.inputContext().contains("You is"));
        assertTrue(single.inputQuery().startsWith("What is the special magic number for "), single.inputQuery());
        assertTrue(single.inputQuery().endsWith(" mentioned in the provided text?" + suf
                + " The special magic number for " + keyOf(single.inputQuery()) + " mentioned in the provided text is"), single.inputQuery());
        // needles stay plural, as in RULER
        assertTrue(single.inputContext().contains("One of the special magic numbers for "));

        EvalSample uuid = b.build("niah_single_3", 4096, 0).sample();
        assertTrue(uuid.inputContext().contains("A special magic uuid is hidden"));
        assertTrue(uuid.outputs().get(0).matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));

        EvalSample multi = b.build("niah_multivalue", 4096, 0).sample();
        assertTrue(multi.inputContext().startsWith(pre + "Some special magic numbers are hidden within the following text. "
                + "Make sure to memorize it. I will quiz you about the numbers afterwards.\n"));
        assertTrue(multi.inputQuery().startsWith("What are all the special magic numbers for "));
        assertTrue(multi.inputQuery().endsWith(" mentioned in the provided text are"));
        assertEquals(4, multi.outputs().size());

        EvalSample mq = b.build("niah_multiquery", 4096, 0).sample();
        Matcher m = Pattern.compile("for (.*), (.*), (.*), and (.*) mentioned").matcher(mq.inputQuery());
        assertTrue(m.find(), mq.inputQuery());
        // answers in query order: the value of the i-th queried key is the i-th output
        for (int i = 0; i < 4; i++) {
            assertTrue(mq.inputContext().contains("One of the special magic numbers for " + m.group(i + 1) + " is: " + mq.outputs().get(i) + "."));
        }
        // the base template adds nothing
        EvalSample plain = new SampleBuilder(base, 1).build("niah_single_1", 2048, 0).sample();
        assertTrue(plain.inputContext().startsWith("A special magic number is hidden"));
        assertTrue(plain.inputQuery().endsWith("mentioned in the provided text is"));
    }

    private static String keyOf(String q) {
        Matcher m = Pattern.compile("number for (\\S+) mentioned").matcher(q);
        assertTrue(m.find());
        return m.group(1);
    }

    @Test
    void essayHaystackIsGrammarProseWithoutSpecialMagicAndNeedlesAtTheirDepths() {
        SampleBuilder b = new SampleBuilder(base, 5);
        for (int i = 0; i < 3; i++) {
            SampleBuilder.Built s = b.build("niah_multikey_1", 8192, i);
            String ctx = s.sample().inputContext();
            String hay = ctx.substring(ctx.indexOf('\n') + 1);
            for (String needle : s.text().evidence()) hay = hay.replace(needle, "");
            assertFalse(hay.toLowerCase().contains("special magic"));
            assertFalse(hay.contains("\n "), "essay is one paragraph");
            assertEquals(4, s.text().evidence().size());
        }
        // sentences follow the grammar's article rule and capitalization
        ProseGrammar g = ProseGrammar.standard();
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 2000; i++) {
            String s = g.sentence(r);
            assertTrue(Character.isUpperCase(s.charAt(0)), s);
            assertFalse(Pattern.compile("(?<![A-Za-z])[Aa] [aeiouAEIOU]").matcher(s).find(), s);
            assertFalse(s.contains("{"), s);
        }
        assertEquals(g.sentence(new SplittableRandom(9)), g.sentence(new SplittableRandom(9)));
    }

    @Test
    void variableTrackingChainAndFewShotExample() {
        SampleBuilder.Built s = new SampleBuilder(base, 2).build("vt", 4096, 0);
        String ctx = s.sample().inputContext();
        List<String> names = s.sample().outputs();
        assertEquals(5, names.size());
        for (String n : names) assertTrue(n.matches("[A-Z]{5}"));
        int last = -1;
        for (String st : s.text().evidence()) {
            int at = ctx.indexOf(st);
            assertTrue(at > last, "chain in order: " + st);
            last = at;
        }
        Matcher v = Pattern.compile("VAR " + names.get(0) + " = (\\d{5})").matcher(ctx);
        assertTrue(v.find());
        assertTrue(s.sample().inputQuery().contains("assigned the value " + v.group(1) + " in the text above."));
        assertTrue(s.sample().inputQuery().endsWith("5 variables are assigned the value " + v.group(1) + ", they are: "));
        // the few-shot example (3-letter names) comes first
        assertTrue(ctx.startsWith("Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"));
        assertTrue(Pattern.compile("VAR [A-Z]{3} = \\d{5}").matcher(ctx.substring(0, ctx.indexOf("\n\nMemorize", 10))).find());
    }

    @Test
    void commonWordsAreTheMostFrequentAndFrequentWordsFollowZipf() {
        SampleBuilder b = new SampleBuilder(base, 4);
        SampleBuilder.Built s = b.build("cwe", 8192, 0);
        String ctx = s.sample().inputContext();
        String body = ctx.substring(ctx.lastIndexOf("most often.\n") + 12);
        java.util.Map<String, Integer> counts = new java.util.HashMap<>();
        for (String w : body.strip().split("\\s*\\d+\\. ")) if (!w.isBlank()) counts.merge(w.strip(), 1, Integer::sum);
        int minCommon = Integer.MAX_VALUE, maxOther = 0;
        for (var e : counts.entrySet()) {
            if (s.sample().outputs().contains(e.getKey())) minCommon = Math.min(minCommon, e.getValue());
            else maxOther = Math.max(maxOther, e.getValue());
        }
        assertEquals(10, s.sample().outputs().size());
        assertTrue(minCommon > maxOther, minCommon + " vs " + maxOther);
        assertNotNull(b.task("cwe").note(8192), "8K counts are scaled down and the report says so");

        SampleBuilder.Built f = b.build("fwe", 4096, 0);
        String text = f.sample().inputContext();
        java.util.Map<String, Integer> fc = new java.util.HashMap<>();
        for (String w : text.substring(text.indexOf("coded words. ") + 13).strip().split(" ")) fc.merge(w, 1, Integer::sum);
        List<String> ranked = new ArrayList<>(fc.keySet());
        ranked.sort((x, y) -> fc.get(y) - fc.get(x));
        assertEquals("...", ranked.get(0));
        assertEquals(f.sample().outputs(), ranked.subList(1, 4));
        assertTrue(fc.get(ranked.get(3)) > fc.get(ranked.get(4)));
    }

    @Test
    void everyAnswerScoresOneAndStoriesAreOrdered() {
        SampleBuilder b = new SampleBuilder(base, 6);
        List<String> all = new ArrayList<>(Tasks.RULER);
        all.addAll(Tasks.BABILONG);
        for (String t : all) {
            for (int i = 0; i < 4; i++) {
                SampleBuilder.Built s = b.build(t, 4096, i);
                Task task = b.task(t);
                assertEquals(1.0, task.metric().score(s.text().answer(), s.sample().outputs(), s.sample().inputQuery(), task.labels()),
                        t + ": " + s.text().answer() + " vs " + s.sample().outputs());
                if (task.metric() == Metric.BABILONG_LABELS) {
                    String ctx = s.sample().inputContext();
                    String story = ctx.substring(ctx.indexOf("<context>\n"));
                    int at = 0;
                    for (String fact : s.text().evidence()) {
                        int k = story.indexOf(fact, at);
                        assertTrue(k >= 0, t + ": fact out of order: " + fact);
                        at = k + fact.length();
                    }
                    assertTrue(s.sample().inputQuery().startsWith("Question: "));
                    assertTrue(ctx.endsWith("\n</context>\n\n"));
                }
            }
        }
    }

    @Test
    void babilongFillerNamesNoBabiWord() {
        assertFalse(BabilongTask.fillerOk("Daniel carried the kitchen."));
        assertFalse(BabilongTask.fillerOk("The gardens were quiet."));
        assertTrue(BabilongTask.fillerOk("The river carried the tower."));
    }

    @Test
    void impossibleBudgetFailsWithAClearError() {
        SampleBuilder b = new SampleBuilder(base, 1);
        for (String t : List.of("niah_single_2", "vt", "cwe", "fwe", "qa_2", "qa3")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.build(t, 300, 0), t);
            assertTrue(e.getMessage().contains("cannot be sized to 300 tokens"), e.getMessage());
        }
    }

    @Test
    void presetsAndConfigurations() {
        RunConfig star = new RunConfig(AttentionMode.STAR, 4, "auto", "b", dev.starattn.engine.AnchorPositions.ORIGINAL,
                dev.starattn.engine.AnchorContent.FIRST);
        assertEquals(1000, star.blockSize(4000));
        assertEquals(1000, star.anchorSize(4000, 1000));
        List<RunConfig> bs = Presets.expand("block-size", star);
        assertEquals(5, bs.size());
        assertEquals(dev.starattn.engine.strategy.Strategies.DENSE, bs.get(0).strategy());
        assertEquals(List.of(250, 500, 1000, 2000), bs.subList(1, 5).stream().map(c -> c.blockSize(4000)).toList());
        List<RunConfig> as = Presets.expand("anchor-size", star);
        assertEquals(List.of(125, 250, 500, 1000), as.subList(1, 5).stream().map(c -> c.anchorSize(4000, 1000)).toList());
        assertEquals(0, Presets.expand("no-anchor", star).get(2).anchorSize(4000, 1000));
        assertEquals(4, Presets.expand("anchor-positions", star).size());
        assertEquals(5, Presets.expand("anchor-content", star).stream().map(RunConfig::key).distinct().count(), "dense + first, previous, shuffled, random");
        assertEquals(0, Presets.expand("no-anchor", star).get(2).options(4000, 0).anchorSize());
        assertThrows(IllegalArgumentException.class, () -> Presets.expand("nope", star));
        assertThrows(IllegalArgumentException.class, () -> star.withBlock("x/3"));
    }
}
