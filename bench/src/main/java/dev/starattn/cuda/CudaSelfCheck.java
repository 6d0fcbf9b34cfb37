package dev.starattn.cuda;

import static dev.starattn.cuda.SelfCheckData.randomModel;

import dev.starattn.config.Switches;
import dev.starattn.model.LoadedModel;
import dev.starattn.tensor.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * GPU against CPU, figure by figure: the self-check's entry point and harness. {@link #all} runs the named sections
 * (all, or those of {@code -Dstarattn.selfcheck.sections}); each check prints one line, OK or FAIL with its figures
 * ({@link Result}), a section that throws prints FAIL and the next section runs, and {@code main} ends with a SUMMARY
 * line and exits non-zero when a check failed. The sections live by topic: {@link KernelChecks} (kernels),
 * {@link ModelChecks} (model families, Hugging Face), {@link StarGpuChecks}, {@link StarPassGpuCheck} and
 * {@link RingGpuCheck} (several hosts), {@link SpeedCheck}. Used by the GPU tests and on the GPU machine.
 */
public final class CudaSelfCheck {
    public record Result(String name, double maxAbs, double rel, double tol, String note) {
        /** A yes/no check (tokens equal, ...): no figures, only the note. */
        static Result verdict(String name, boolean ok, String note) {
            return new Result(name, 0, ok ? 0 : 1, -1, note);
        }

        boolean ok() {
            return tol < 0 ? rel == 0 : rel <= tol;
        }

        @Override
        public String toString() {
            if (tol < 0) return String.format("%-4s %-58s %s", ok() ? "OK" : "FAIL", name, note);
            return String.format("%-4s %-58s max|d|=%.3e rel=%.3e tol=%.0e %s", ok() ? "OK" : "FAIL", name, maxAbs, rel, tol, note);
        }
    }

    final List<Result> results = new ArrayList<>();

    private final CudaDevice dev;

    public CudaSelfCheck(CudaDevice dev) {
        this.dev = dev;
    }

    public List<Result> results() {
        return results;
    }

    /** The GPU the checks run on (the first of several). */
    CudaDevice device() {
        return dev;
    }

    Result add(String name, float[] gpu, float[] cpu, int n, double tol, String note) {
        double maxAbs = 0, maxRef = 1e-30;
        for (int i = 0; i < n; i++) {
            float a = gpu[i], b = cpu[i];
            if (a == b) continue; // also both -inf
            maxAbs = Math.max(maxAbs, Math.abs((double) a - b));
        }
        for (int i = 0; i < n; i++) if (Float.isFinite(cpu[i])) maxRef = Math.max(maxRef, Math.abs(cpu[i]));
        Result r = new Result(name, maxAbs, Double.isNaN(maxAbs) ? Double.POSITIVE_INFINITY : maxAbs / maxRef, tol, note);
        results.add(r);
        System.out.println(r);
        return r;
    }

    /** Runs one part of a section; a throw becomes a FAIL line (with its stack trace) and the section goes on. */
    void attempt(String name, Section part) {
        try {
            part.run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            results.add(new Result(name + " threw " + t, Double.NaN, Double.POSITIVE_INFINITY, 0, ""));
            System.out.println("FAIL " + name + ": " + t);
        }
    }

    static Result printed(Result r) {
        System.out.println(r);
        return r;
    }

    interface Section {
        void run() throws Exception;
    }

    /** -Dstarattn.selfcheck.sections=a,b runs only the named sections (a short device call); default all. */
    private static final java.util.Set<String> ONLY = sectionFilter();

    private static java.util.Set<String> sectionFilter() {
        String p = Switches.selfcheckSections();
        if (p == null || p.isBlank()) return java.util.Set.of();
        java.util.Set<String> r = new java.util.HashSet<>();
        for (String x : p.split(",")) r.add(x.strip());
        return r;
    }

    void section(String name, Section s) {
        if (!ONLY.isEmpty() && !ONLY.contains(name)) return;
        try {
            s.run();
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            results.add(new Result(name + " threw " + t, Double.NaN, Double.POSITIVE_INFINITY, 0, ""));
            System.out.println("FAIL " + name + ": " + t);
        }
    }

    public void all(Path work, Path hfDir) {
        KernelChecks kernels = new KernelChecks(this);
        ModelChecks models = new ModelChecks(this);
        StarGpuChecks star = new StarGpuChecks(this);
        section("rope q bf16", kernels::ropeQBf16);
        section("attention", kernels::attention);
        section("attention tensor cores", kernels::attentionTensorCores);
        section("decode kernel", kernels::decodeKernel);
        section("q8", kernels::q8);
        section("llama F32", () -> {
            try (LoadedModel m = randomModel(work, "llama", 256, 4, 8, 2, 640, 1000, GgmlType.F32)) {
                models.model("llama dim=256 L=4 h=8/2 (rope norm) F32", m.model(), 150, 3, 64, 5e-2);
                star.star(m.model(), 5e-2);
                star.engine(m.model(), 600, 5e-2);
            }
        });
        section("star on GPUs", () -> {
            try (LoadedModel m = randomModel(work, "llama", 256, 4, 8, 2, 640, 1000, GgmlType.F32)) {
                star.starOnGpus(m.model(), 600, 5e-2);
            }
        });
        section("decode graph", () -> {
            // Head dims 128 and 64 (the tiled decode kernel, 2 and 4 query vectors a kv head).
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                star.decodeGraph(m.model(), "hd=128");
            }
            try (LoadedModel m = randomModel(work, "llama", 512, 3, 8, 2, 1024, 1000, GgmlType.F32)) {
                star.decodeGraph(m.model(), "hd=64");
            }
        });
        section("star-pass on GPUs", () -> {
            // Head dim 128 (the tensor-core kernels, cuDNN where it takes the block's prefill), as ring's section.
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                new StarPassGpuCheck(this).run(m.model(), 600, 16, 5e-2);
            }
        });
        section("ring on GPUs", () -> {
            // Head dim 128, so that phase 1's attention runs the tensor-core kernels (WGMMA_X2 on Hopper), as at 8B scale.
            try (LoadedModel m = randomModel(work, "llama", 512, 4, 4, 2, 1024, 1000, GgmlType.F32)) {
                new RingGpuCheck(this).ringOnGpus(m.model(), 300, 5e-2);
            }
        });
        section("qwen2 F32", () -> {
            try (LoadedModel m = randomModel(work, "qwen2", 512, 3, 8, 4, 1024, 2000, GgmlType.F32)) {
                models.model("qwen2 dim=512 L=3 h=8/4 (rope neox, qkv bias) F32", m.model(), 300, 2, 128, 5e-2);
            }
        });
        section("llama Q8_0", () -> {
            try (LoadedModel m = randomModel(work, "llama", 512, 2, 4, 4, 1024, 1000, GgmlType.Q8_0)) {
                models.model("llama dim=512 L=2 h=4/4 hd=128 Q8_0", m.model(), 200, 1, 200, 5e-2);
            }
        });
        section("speed", () -> {
            try (LoadedModel m = randomModel(work, "llama", 2048, 4, 32, 8, 5632, 32000, GgmlType.F32)) {
                new SpeedCheck(this).speed(m.model(), 1024, 512, 5e-2);
            }
        });
        if (hfDir != null) section("huggingface", () -> models.huggingFace(hfDir, 5e-2));
    }

    public static void main(String[] args) throws Exception {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            System.out.println("SKIP: " + why);
            return;
        }
        Path work = Files.createTempDirectory("starattn-cuda");
        Path hf = args.length > 0 ? Path.of(args[0]) : null;
        try (CudaDevice dev = CudaDevice.open(0)) {
            long[] mem = dev.memoryInfo();
            System.out.printf("device %s, %d SMs, %.1f GiB free of %.1f GiB%n", dev.name(), dev.multiprocessors(), mem[0] / 1073741824.0, mem[1] / 1073741824.0);
            CudaSelfCheck s = new CudaSelfCheck(dev);
            try {
                s.all(work, hf);
            } finally {
                long failed = s.results.stream().filter(r -> !r.ok()).count();
                System.out.println("SUMMARY " + (s.results.size() - failed) + "/" + s.results.size() + " checks passed");
                if (failed > 0) System.exit(1);
            }
        }
    }
}
