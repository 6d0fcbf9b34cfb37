package dev.starattn.app.eval;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class ScorersTest {
    @Test
    void stringMatchAllIsTheFractionFoundCaseInsensitive() {
        Metric m = Metric.STRING_MATCH_ALL;
        assertEquals(1.0, m.score(" 1234567, 7654321.", List.of("1234567", "7654321"), "", List.of()));
        assertEquals(0.5, m.score("only 1234567", List.of("1234567", "7654321"), "", List.of()));
        assertEquals(1.0, m.score("ABCDE fghij", List.of("abcde", "FGHIJ"), "", List.of()));
        assertEquals(0.0, m.score("", List.of("x"), "", List.of()));
        assertEquals(0.0, m.score("anything", List.of(), "", List.of()));
    }

    @Test
    void stringMatchPartIsAnyReference() {
        Metric m = Metric.STRING_MATCH_PART;
        assertEquals(1.0, m.score("It is Drust.", List.of("Velmora", "drust"), "", List.of()));
        assertEquals(0.0, m.score("Velm", List.of("Velmora"), "", List.of()));
    }

    @Test
    void normalizationTurnsControlCharactersIntoNewlinesAndStrips() {
        assertEquals("a\nb", Metric.normalize("\t a\u0001b \n"));
        // a reference split by a control character in the prediction is not found
        assertEquals(0.0, Metric.STRING_MATCH_ALL.score("12\u000234", List.of("12 34"), "", List.of()));
    }

    @Test
    void babilongLabelsFirstSentenceMinusQuestionLabelsMustEqualTarget() {
        Metric m = Metric.BABILONG_LABELS;
        List<String> loc = Metric.LOCATION_LABELS;
        assertEquals(1.0, m.score("The most recent location of Mary is the Kitchen.", List.of("kitchen"), "Where is Mary?", loc));
        // only the text before the first period counts
        assertEquals(1.0, m.score("kitchen. Then the garden.", List.of("kitchen"), "Where is Mary?", loc));
        // two locations in the answer: wrong
        assertEquals(0.0, m.score("the kitchen or the garden", List.of("kitchen"), "Where is Mary?", loc));
        // a location named in the question does not count against the answer
        assertEquals(1.0, m.score("Before the kitchen, the apple was in the office.", List.of("office"),
                "Where was the apple before the kitchen?", loc));
        assertEquals(0.0, m.score("I do not know.", List.of("office"), "Where is the apple?", loc));
        List<String> qa5 = Metric.QA5_LABELS;
        assertEquals(1.0, m.score("Bill gave the milk to Fred.", List.of("bill"), "Who gave the milk to Fred?", qa5));
        assertEquals(0.0, m.score("Jeff gave the milk to Fred.", List.of("bill"), "Who gave the milk to Fred?", qa5));
    }

    @Test
    void stopWordsCutAndStrip() {
        EvalTemplate t = EvalTemplate.of(dev.starattn.model.PromptTemplate.LLAMA3);
        assertEquals("1234567.", t.cut(" 1234567.<|eot_id|>more<|end_of_text|>"));
        assertEquals("x", EvalTemplate.of(dev.starattn.model.PromptTemplate.BASE).cut(" x <|end_of_text|> y"));
        assertEquals("no stop", t.cut("no stop \n"));
    }
}
