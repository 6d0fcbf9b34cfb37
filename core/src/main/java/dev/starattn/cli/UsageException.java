package dev.starattn.cli;

import java.util.function.Supplier;

/**
 * The command line itself is wrong: an option value out of range, or an input path or file that
 * cannot be used. The CLI's error handler prints its message and exits 2, as for an unparseable option.
 */
public final class UsageException extends IllegalArgumentException {
    public UsageException(String message) {
        super(message);
    }

    /**
     * Runs a library check whose IllegalArgumentException speaks of an option (EngineOptions,
     * SamplingOptions, BlockPlan), turning it into a usage error with the same sentence.
     */
    public static <T> T check(Supplier<T> check) {
        try {
            return check.get();
        } catch (UsageException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** As {@link #check(Supplier)}, for a check that returns nothing. */
    public static void check(Runnable check) {
        check(() -> {
            check.run();
            return null;
        });
    }
}
