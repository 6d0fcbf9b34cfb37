package dev.starattn.app.eval;

import java.util.List;

/**
 * One evaluation sample in the NVIDIA reference's record shape: {@code input_context} (template
 * prefix + task context: phase 1), {@code input_query} (task query + template suffix + answer
 * prefix: phase 2), {@code outputs} (reference strings) and {@code length} (tokens of context +
 * query plus the generation budget G); {@code targetLength} is the L it was sized to (our extra
 * field {@code target_length}; 0 when unknown).
 */
public record EvalSample(String task, int index, String inputContext, String inputQuery, List<String> outputs, int length,
                         int targetLength) {
    public EvalSample {
        outputs = List.copyOf(outputs);
    }
}
