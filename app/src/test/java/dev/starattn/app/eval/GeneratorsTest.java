package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.PromptTemplate;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GeneratorsTest {
    static LoadedModel model;
    static PromptTokens base, llama3;
    static final int L = 4096;

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

    static int occurrences(String hay, String needle) {
        int n = 0;
        for (int i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
        return n;
    }

    static List<String> allTasks() {
        List<String> t = new ArrayList<>(Tasks.RULER);
        t.addAll(Tasks.BABILONG);
        return t;
    }

    @Test
    void everyTaskMeetsItsTokenBudgetAndIsDeterministic() {
        SampleBuilder b = new SampleBuilder(base, 7);
        for (String task : allTasks()) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 2; i++) {
                SampleBuilder.Built s = b.build(task, L, i);
                Task t = b.task(task);
                assertTrue(s.totalTokens() <= L, task + ": " + s.totalTokens() + " > " + L);
                // within one haystack step of L: the step's tokens measured on this very sample
                int inc = t.increment(L);
                int bigger = b.totalTokens(t, t.build(SampleBuilder.rng(7, task, L, i), s.units() + inc, L));
                int step = bigger - s.totalTokens();
                assertTrue(bigger > L && L - s.totalTokens() < step,
                        task + ": " + s.totalTokens() + " tokens of " + L + ", haystack step " + step + " tokens");
                // deterministic by seed; another seed gives another sample
                assertEquals(s.sample(), new SampleBuilder(base, 7).build(task, L, i).sample(), task);
                assertNotEquals(s.sample(), new SampleBuilder(base, 8).build(task, L, i).sample(), task);
                assertEquals(s.sample().length(), s.totalTokens() - base.answerTokens(s.text().answer()), task);
                // every reference is in the context (the essay, the chain, the documents), except fwe/cwe which count
                assertFalse(s.sample().outputs().isEmpty(), task);
                if (!task.equals("qa4") && !task.equals("qa5") && Metric.BABILONG_LABELS != t.metric()) {
                    for (String o : s.sample().outputs()) assertTrue(s.sample().inputContext().contains(o), task + " lacks " + o);
                }
                if (t.metric() != Metric.BABILONG_LABELS) {
                    for (String e : s.text().evidence()) assertEquals(1, occurrences(s.sample().inputContext(), e), task + ": " + e);
                }
            }
            System.out.printf("%s: %.0f ms%n", task, (System.nanoTime() - t0) / 1e6);
        }
    }
}
