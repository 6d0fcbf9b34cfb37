package dev.starattn.app.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/** The task suites. */
public final class Tasks {
    public static final List<String> RULER = List.of("niah_single_1", "niah_single_2", "niah_single_3",
            "niah_multikey_1", "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery",
            "vt", "cwe", "fwe", "qa_1", "qa_2");
    public static final List<String> BABILONG = List.of("qa1", "qa2", "qa3", "qa4", "qa5");

    private Tasks() {}

    public static List<String> suite(String name) {
        return switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "ruler" -> RULER;
            case "babilong" -> BABILONG;
            default -> throw new IllegalArgumentException("unknown suite '" + name + "' (use ruler or babilong)");
        };
    }

    /**
     * A task generator. {@code tokens} counts the tokens of a text with the model's tokenizer (cwe
     * uses it to scale its counts); {@code seed} seeds what samples share (the essay haystack).
     */
    public static Task create(String name, long seed, ToIntFunction<String> tokens) {
        ProseGrammar g = ProseGrammar.standard();
        Task niah = NiahTask.create(name, g, seed);
        if (niah != null) return niah;
        return switch (name) {
            case "vt" -> new VariableTrackingTask(g);
            case "cwe" -> new CommonWordsTask(g, tokens);
            case "fwe" -> new FrequentWordsTask();
            case "qa_1" -> new QaTask(name, false, g);
            case "qa_2" -> new QaTask(name, true, g);
            case "qa1", "qa2", "qa3", "qa4", "qa5" -> new BabilongTask(name.charAt(2) - '0', g);
            default -> throw new IllegalArgumentException("unknown task '" + name + "' (RULER: " + String.join(", ", RULER)
                    + "; BABILong: " + String.join(", ", BABILONG) + ")");
        };
    }

    /** Parses a comma-separated task list against a suite, keeping the suite's order. */
    public static List<String> select(String suite, List<String> requested) {
        List<String> all = suite(suite);
        if (requested == null || requested.isEmpty()) return all;
        List<String> out = new ArrayList<>();
        for (String r : requested) {
            String t = r.trim();
            if (!all.contains(t)) throw new IllegalArgumentException("task '" + t + "' is not in the " + suite + " suite (" + String.join(", ", all) + ")");
            if (!out.contains(t)) out.add(t);
        }
        return out;
    }

    /** G for a task name, also for external data sets whose task is named like ours; 128 otherwise. */
    public static int generationBudget(String task) {
        if (task.startsWith("niah")) return 128;
        return switch (task) {
            case "vt" -> 30;
            case "cwe" -> 120;
            case "fwe" -> 50;
            case "qa_1", "qa_2" -> 32;
            default -> 128;
        };
    }

    /** The metric for a task name; string_match_all unless it is a qa task. */
    public static Metric metric(String task) {
        if (task.startsWith("qa_")) return Metric.STRING_MATCH_PART;
        if (BABILONG.contains(task)) return Metric.BABILONG_LABELS;
        return Metric.STRING_MATCH_ALL;
    }

    public static List<String> labels(String task) {
        if (task.equals("qa5")) return Metric.QA5_LABELS;
        if (BABILONG.contains(task)) return Metric.LOCATION_LABELS;
        return List.of();
    }
}
