package dev.starattn.app.eval;

import java.util.List;
import java.util.random.RandomGenerator;

/**
 * One task generator. A task builds instances from a number of haystack units {@code n}; the
 * {@link SampleBuilder} finds the n that fills a target length with the model's tokenizer.
 */
public interface Task {
    String name();

    /** G: the tokens generated for an answer (and reserved by the sizing loop). */
    int generationBudget();

    Metric metric();

    /** The labels of the BABILong metric; empty for other metrics. */
    default List<String> labels() {
        return List.of();
    }

    /** The sizing loop's step in units at target length L. */
    int increment(int length);

    /** The fewest units an instance can have. */
    default int minUnits() {
        return 1;
    }

    /** Builds an instance with {@code units} haystack units for target length L, drawing all randomness from rng. */
    TaskText build(RandomGenerator rng, int units, int length);

    /** A line for the report about how this task is shaped at length L (e.g. scaled counts), or null. */
    default String note(int length) {
        return null;
    }
}
