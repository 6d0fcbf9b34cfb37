package dev.starattn.cuda;

import static dev.starattn.cuda.CudaSelfCheck.printed;
import static dev.starattn.cuda.SelfCheckData.argmax;
import static dev.starattn.cuda.SelfCheckData.concatAll;
import static dev.starattn.cuda.SelfCheckData.top2Gap;

import dev.starattn.cuda.CudaSelfCheck.Result;
import dev.starattn.engine.InferenceEngine;
import dev.starattn.engine.SamplingOptions;
import java.util.Arrays;

/**
 * A GPU generation against a CPU one, step by step: the first logits, the later steps teacher-forced with the CPU's
 * tokens, and the greedy tokens (equal, or parting only at a near tie). Shared by the multi-host sections.
 */
final class StepComparison {
    private final CudaSelfCheck check;

    StepComparison(CudaSelfCheck check) {
        this.check = check;
    }

    /**
     * Phase 2 of a ring run against the CPU engine's dense run: the first logits, the later steps (teacher-forced with
     * the CPU's tokens) as one figure, and the greedy tokens (equal, or parting after the first only at a near tie).
     */
    void phase2VsCpu(String label, int[] gpuTokens, float[][] gpuSteps, int[] cpuTokens, float[][] cpuSteps, double tol) {
        phase2VsCpu(label, "CPU dense", gpuTokens, gpuSteps, cpuTokens, cpuSteps, tol);
    }

    /** As above, against the CPU run named {@code reference}. */
    void phase2VsCpu(String label, String reference, int[] gpuTokens, float[][] gpuSteps, int[] cpuTokens, float[][] cpuSteps, double tol) {
        check.add(label + ": first logits vs " + reference, gpuSteps[0], cpuSteps[0], cpuSteps[0].length, tol,
                "argmax gpu=" + argmax(gpuSteps[0]) + " cpu=" + argmax(cpuSteps[0]));
        int steps = cpuSteps.length;
        double[] stepDiff = new double[steps];
        int parted = -1;
        for (int i = 0; i < steps; i++) {
            for (int j = 0; j < cpuSteps[i].length; j++) stepDiff[i] = Math.max(stepDiff[i], Math.abs((double) gpuSteps[i][j] - cpuSteps[i][j]));
            if (parted < 0 && (i >= gpuTokens.length || gpuTokens[i] != cpuTokens[i])) parted = i;
        }
        if (steps > 1) {
            float[][] g = Arrays.copyOfRange(gpuSteps, 1, steps), cpu = Arrays.copyOfRange(cpuSteps, 1, steps);
            float[] cc = concatAll(Arrays.asList(cpu));
            check.add(label + ": steps 2.." + steps + " logits, teacher-forced, vs " + reference, concatAll(Arrays.asList(g)), cc, cc.length, tol, "");
        }
        greedyTokensVerdict(label + ": greedy tokens vs " + reference, gpuTokens, cpuTokens, gpuSteps, cpuSteps, stepDiff, parted);
    }

    /**
     * GPU greedy tokens against the CPU's: equal, or parting (at step {@code parted}) only at a near tie: there the
     * GPU's free-running token is its teacher-forced argmax (the same inputs up to that step) and the CPU's top-2
     * gap is below 2 max|d| of that step's logits (a tie within the bf16/f32 difference).
     */
    void greedyTokensVerdict(String what, int[] gpuTokens, int[] cpuTokens, float[][] gpuSteps, float[][] cpuSteps,
                                     double[] stepDiff, int parted) {
        int steps = cpuSteps.length;
        boolean equal = Arrays.equals(gpuTokens, cpuTokens);
        boolean inRange = parted >= 0 && parted < steps;
        boolean nearTie = parted > 0 && parted < gpuTokens.length && argmax(gpuSteps[parted]) == gpuTokens[parted]
                && top2Gap(cpuSteps[parted]) < 2 * stepDiff[parted];
        check.results.add(printed(Result.verdict(what, equal || nearTie,
                "gpu=" + Arrays.toString(gpuTokens) + " cpu=" + Arrays.toString(cpuTokens)
                        + (equal ? "" : String.format("; they part at token %d: CPU top-2 gap %.3e, 2 x GPU max|d| %.3e (%s)", parted + 1,
                        inRange ? top2Gap(cpuSteps[parted]) : Double.NaN, inRange ? 2 * stepDiff[parted] : Double.NaN,
                        nearTie ? "a near tie" : "NOT a near tie, or the first token")))));
    }

    /**
     * The CPU's logits at every step of {@code free} (a greedy run of {@code query} on {@code ctx}), each step
     * given the CPU's own earlier tokens: what a GPU run is compared with step by step, so that a bf16
     * near-tie that changes one token does not hide whether the later steps are right.
     */
    static float[][] teacherForcedLogits(InferenceEngine cpu, dev.starattn.engine.EncodedContext ctx, int[] query,
                                         dev.starattn.engine.GenerationResult free) {
        return teacherForcedLogits(cpu, ctx, query, free.tokens(), free.firstLogits());
    }

    /** An engine's logits at every step of {@code tokens} after {@code query}, each step given the earlier tokens. */
    static float[][] teacherForcedLogits(InferenceEngine e, dev.starattn.engine.EncodedContext ctx, int[] query, int[] tokens,
                                         float[] firstLogits) {
        float[][] steps = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            int[] prompt = CudaStarQuery.concat(query, Arrays.copyOf(tokens, i));
            steps[i] = i == 0 ? firstLogits
                    : e.generate(ctx, prompt, new SamplingOptions(0, 1, 0), 1, t -> false, t -> {}).firstLogits();
        }
        return steps;
    }

    /** The GPU query host's logits at every step of {@code tokens} after {@code query} (encoded context of length n), then reset. */
    static float[][] teacherForcedLogits(CudaStarQuery sq, int n, int[] query, int[] tokens) {
        float[][] steps = new float[tokens.length][];
        int pos = n;
        for (int i = 0; i < tokens.length; i++) {
            int[] in = i == 0 ? query : new int[] {tokens[i - 1]};
            steps[i] = sq.step(in, pos);
            pos += in.length;
        }
        sq.reset();
        return steps;
    }
}
