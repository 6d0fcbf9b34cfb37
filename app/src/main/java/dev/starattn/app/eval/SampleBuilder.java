package dev.starattn.app.eval;

import dev.starattn.model.Prompt;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Builds samples of a target length L with the model's tokenizer. The number of haystack units n
 * is the spec's: grown by the task's increment while tokens(context + query + answer) + G <= L,
 * then stepped back once (the search starts near its end from a measured tokens-per-unit slope,
 * which gives the same n when length grows with n); each sample is then regenerated with fewer
 * units while it is too long (and grown while the next step still fits), and one that ends short of
 * {@link #FILL} x L is grown by single units between its last fitting and first failing count.
 * Every loop is bounded: a budget that cannot be met is an error.
 */
public final class SampleBuilder {
    /** A sample with what it was built from. {@code totalTokens} = context + query + answer + G. */
    public record Built(EvalSample sample, TaskText text, int units, int totalTokens) {}

    /** A sample is sized to at least this fraction of its target length (where its units allow). */
    public static final double FILL = 0.95;
    private static final int MAX_PROBES = 10_000;
    private final PromptTokens tokens;
    private final long seed;
    private final Map<String, Task> tasks = new HashMap<>();
    private final Map<String, Integer> fitted = new HashMap<>();

    public SampleBuilder(PromptTokens tokens, long seed) {
        this.tokens = tokens;
        this.seed = seed;
    }

    public synchronized Task task(String name) {
        return tasks.computeIfAbsent(name, n -> Tasks.create(n, seed, tokens::count));
    }

    /** The random stream of one sample: seeded by (seed, task, length, index). */
    public static SplittableRandom rng(long seed, String task, int length, int index) {
        long h = seed * 0x9E3779B97F4A7C15L;
        h = (h ^ task.hashCode()) * 0xBF58476D1CE4E5B9L;
        h = (h ^ length) * 0x94D049BB133111EBL;
        h = (h ^ index) * 0x9E3779B97F4A7C15L;
        return new SplittableRandom(h ^ (h >>> 31));
    }

    /** context + query + answer + G tokens of an instance, with the template applied. */
    public int totalTokens(Task task, TaskText t) {
        Prompt p = tokens.prompt(inputContext(t), inputQuery(t));
        return p.context().length + p.query().length + tokens.answerTokens(t.answer()) + task.generationBudget();
    }

    private String inputContext(TaskText t) {
        return tokens.template().prefix() + t.context();
    }

    private String inputQuery(TaskText t) {
        return t.query() + tokens.template().suffix() + t.answerPrefix();
    }

    private int probe(Task task, int units, int length) {
        return totalTokens(task, task.build(rng(seed, task.name(), length, -1), units, length));
    }

    /** The number of units for (task, L), found on a probe sample. */
    public synchronized int fitUnits(String taskName, int length) {
        String key = taskName + "@" + length;
        Integer cached = fitted.get(key);
        if (cached != null) return cached;
        Task task = task(taskName);
        int inc = Math.max(1, task.increment(length)), min = task.minUnits();
        int smallest = probe(task, min, length);
        if (smallest > length) {
            throw new IllegalArgumentException(String.format(
                    "task %s cannot be sized to %d tokens: its smallest instance (%d units) already needs %d tokens "
                            + "(context + query + answer + %d generated); use a longer length",
                    taskName, length, min, smallest, task.generationBudget()));
        }
        int n0 = Math.max(inc, min);
        int f0 = probe(task, n0, length);
        int n;
        int probes = 2;
        if (f0 > length) {
            // the first step is already too long: the largest fitting count between min and n0
            int lo = min, hi = n0 - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (probe(task, mid, length) <= length) lo = mid; else hi = mid - 1;
                if (++probes > MAX_PROBES) throw tooMany(taskName, length);
            }
            n = lo;
        } else {
            // The grow loop ends at the largest count on the grid n0 + k*inc that fits. Find it by
            // secant jumps (tokens grow about linearly with units) until a count is too long, then
            // bisect the grid between the last fitting and the first failing count.
            int lo = n0, flo = f0, hi = -1;
            int pa = n0, fpa = f0;
            while (hi < 0) {
                int next = lo + inc;
                if (lo == pa && lo == n0) {
                    int fn = probe(task, next, length);
                    if (fn > length) { hi = next; break; }
                    pa = lo; fpa = flo; lo = next; flo = fn;
                }
                double slope = Math.max(1e-3, (flo - fpa) / (double) Math.max(1, lo - pa));
                long steps = Math.max(1, (long) Math.floor((length - flo) / slope / inc));
                long g = Math.min(Math.min((long) Integer.MAX_VALUE / 4, 4L * lo + inc), lo + steps * inc);
                int guess = (int) g;
                int fg = probe(task, guess, length);
                if (++probes > MAX_PROBES) throw tooMany(taskName, length);
                if (fg <= length) { pa = lo; fpa = flo; lo = guess; flo = fg; }
                else hi = guess;
                if (guess >= Integer.MAX_VALUE / 4) throw tooMany(taskName, length);
            }
            while (hi - lo > inc) {
                int mid = lo + ((hi - lo) / inc / 2) * inc;
                if (probe(task, mid, length) <= length) lo = mid; else hi = mid;
                if (++probes > MAX_PROBES) throw tooMany(taskName, length);
            }
            n = lo;
        }
        fitted.put(key, n);
        return n;
    }

    private static IllegalStateException tooMany(String task, int length) {
        return new IllegalStateException("sizing " + task + " to " + length + " tokens did not settle after " + MAX_PROBES + " tries");
    }

    /**
     * One sample: built with the fitted units, then with fewer units while too long. Samples differ
     * (random keys, vocabularies, documents), so a sample that fits is also grown by inc while the
     * next count still fits: every sample ends within one haystack step of L.
     */
    public Built build(String taskName, int length, int index) {
        Task task = task(taskName);
        int n = fitUnits(taskName, length);
        int inc = Math.max(1, task.increment(length)), min = task.minUnits();
        Built best = null;
        for (int tries = 0; tries < MAX_PROBES; tries++) {
            Built b = attempt(task, length, index, n);
            if (b != null) {
                best = b;
                n += inc;
            } else if (best != null) {
                return fill(task, length, index, best, n);
            } else {
                if (n <= min) {
                    throw new IllegalArgumentException(String.format("sample %d of %s does not fit in %d tokens even with %d units",
                            index, taskName, length, n));
                }
                n = Math.max(min, n - inc);
            }
        }
        throw tooMany(taskName, length);
    }

    /**
     * A coarse step (25 uuid needles, 500 essay words, 10 documents) can be a large part of L: a
     * sample that ends short of {@link #FILL} x L is grown between its fitting count and the
     * failing count {@code tooMany} by bisection, one unit at a time at the end. Samples that
     * already fill L are left as the spec's grid makes them.
     */
    private Built fill(Task task, int length, int index, Built fits, int tooMany) {
        Built best = fits;
        int lo = fits.units(), hi = tooMany;
        while (best.totalTokens() < FILL * length && hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            Built b = attempt(task, length, index, mid);
            if (b != null) {
                lo = mid;
                best = b;
            } else {
                hi = mid;
            }
        }
        return best;
    }

    private Built attempt(Task task, int length, int index, int n) {
        TaskText t = task.build(rng(seed, task.name(), length, index), n, length);
        Prompt p = tokens.prompt(inputContext(t), inputQuery(t));
        int total = p.context().length + p.query().length + tokens.answerTokens(t.answer()) + task.generationBudget();
        if (total > length) return null;
        EvalSample s = new EvalSample(task.name(), index, inputContext(t), inputQuery(t), t.outputs(),
                p.context().length + p.query().length + task.generationBudget(), length);
        return new Built(s, t, n, total);
    }

    public List<EvalSample> samples(String taskName, int length, int count) {
        List<EvalSample> out = new ArrayList<>();
        for (int i = 0; i < count; i++) out.add(build(taskName, length, i).sample());
        return out;
    }
}
