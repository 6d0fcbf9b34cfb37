package dev.starattn.app.eval;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** The scorers of RULER and BABILong. Every score is in [0, 1]. */
public enum Metric {
    /** Fraction of the references found in the prediction (niah, vt, cwe, fwe). */
    STRING_MATCH_ALL,
    /** 1 if any reference is found in the prediction (qa). */
    STRING_MATCH_PART,
    /** BABILong: the task's labels in the first sentence of the prediction, less those in the question, must be exactly the target. */
    BABILONG_LABELS;

    public static final List<String> LOCATION_LABELS = List.of("bathroom", "bedroom", "garden", "hallway", "kitchen", "office");
    public static final List<String> QA5_LABELS = List.of("bill", "fred", "jeff", "mary", "apple", "football", "milk");

    /** RULER's post-processing: control characters become newlines, then strip. */
    public static String normalize(String prediction) {
        StringBuilder sb = new StringBuilder(prediction.length());
        for (int i = 0; i < prediction.length(); i++) {
            char c = prediction.charAt(i);
            sb.append(c < 0x20 ? '\n' : c);
        }
        return sb.toString().strip();
    }

    /**
     * Scores a prediction. {@code question} is the sample's query text (used by the BABILong metric
     * to drop labels named in the question); {@code labels} the task's label set for that metric.
     */
    public double score(String prediction, List<String> references, String question, List<String> labels) {
        String p = normalize(prediction).toLowerCase(Locale.ROOT);
        return switch (this) {
            case STRING_MATCH_ALL -> {
                if (references.isEmpty()) yield 0;
                int found = 0;
                for (String r : references) if (p.contains(r.toLowerCase(Locale.ROOT))) found++;
                yield (double) found / references.size();
            }
            case STRING_MATCH_PART -> {
                for (String r : references) if (p.contains(r.toLowerCase(Locale.ROOT))) yield 1;
                yield 0;
            }
            case BABILONG_LABELS -> {
                int dot = p.indexOf('.');
                String first = dot >= 0 ? p.substring(0, dot) : p;
                String q = question == null ? "" : question.toLowerCase(Locale.ROOT);
                Set<String> found = new HashSet<>();
                for (String l : labels) if (!q.contains(l) && first.contains(l)) found.add(l);
                Set<String> target = new HashSet<>();
                for (String r : references) target.add(r.toLowerCase(Locale.ROOT).strip());
                yield found.equals(target) ? 1 : 0;
            }
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
