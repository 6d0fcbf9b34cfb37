package dev.starattn.app.eval;

import java.util.List;

/**
 * A task instance before the chat template is applied.
 *
 * @param context      the task context (instruction, examples and haystack): goes after the template prefix
 * @param query        the task query: goes before the template suffix
 * @param answerPrefix goes after the template suffix ("" where the task has none)
 * @param answer       the text of a correct answer, counted by the sizing loop
 * @param outputs      the reference strings the scorer looks for
 * @param evidence     the strings that carry the answer and must occur in the context exactly once
 *                     (needles, chain statements, supporting facts), for tests and inspection
 */
public record TaskText(String context, String query, String answerPrefix, String answer, List<String> outputs,
                       List<String> evidence) {
    public TaskText {
        outputs = List.copyOf(outputs);
        evidence = List.copyOf(evidence);
    }
}
