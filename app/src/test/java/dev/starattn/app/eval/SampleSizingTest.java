package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import dev.starattn.model.LoadedModel;
import dev.starattn.model.ModelLoader;
import dev.starattn.testutil.RepoPaths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every task's samples fill their target length to within 5 % on the shipped model's tokenizer. */
class SampleSizingTest {
    @Test
    void everyTaskAt4kIsWithinFivePercentOfItsTarget() throws Exception {
        int target = 4096;
        List<String> misses = new ArrayList<>();
        StringBuilder seen = new StringBuilder();
        try (LoadedModel m = ModelLoader.load(RepoPaths.root().resolve("models").resolve("starattn-tiny-q8_0.gguf"))) {
            SampleBuilder b = new SampleBuilder(new PromptTokens(m, EvalTemplate.of(m.template())), 0);
            List<String> tasks = new ArrayList<>(Tasks.RULER);
            tasks.addAll(Tasks.BABILONG);
            for (String t : tasks) {
                for (int i = 0; i < 2; i++) {
                    SampleBuilder.Built s = b.build(t, target, i);
                    seen.append(String.format("%s#%d=%d ", t, i, s.totalTokens()));
                    assertTrue(s.totalTokens() <= target, t + " over its target: " + s.totalTokens());
                    if (s.totalTokens() < SampleBuilder.FILL * target) misses.add(t + "#" + i + " " + s.totalTokens());
                }
            }
        }
        System.out.println("[sizing] " + seen);
        assertTrue(misses.isEmpty(), "short of 95 % of " + target + ": " + misses + "\nall: " + seen);
    }
}
