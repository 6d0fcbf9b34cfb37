package dev.starattn.config;

/**
 * Every {@code -Dstarattn.*} system property the code reads, one accessor each: its name, type,
 * default and what it changes. Each accessor reads the property when called; the Javadoc says when
 * its reader calls it ("once": a constant fixed when the reading class loads; "per object": when
 * one is built; "per call"). A value that does not parse fails with one sentence, e.g.
 * {@code starattn.threads takes a positive integer, got 'abc'}; {@link #check} parses them all so
 * that the command line reports a bad switch before any work starts.
 */
public final class Switches {
    private Switches() {}

    private static String raw(String name) {
        return System.getProperty(name);
    }

    // ---- CPU kernels (core) ----

    /** {@code starattn.threads}: worker threads of the CPU kernels (default: available processors). Once (Parallel). */
    public static int threads() {
        return SwitchValues.integer("starattn.threads", raw("starattn.threads"), Runtime.getRuntime().availableProcessors(), 1, "a positive integer");
    }

    /** {@code starattn.spinMicros}: microseconds a waiting thread spins before it parks (default 0). Once (Parallel). */
    public static long spinMicros() {
        return SwitchValues.longInteger("starattn.spinMicros", raw("starattn.spinMicros"), 0L, 0L, "0 or more microseconds");
    }

    /** {@code starattn.gemmStrip}: weight rows the tiled Java GEMM dequantizes at once per thread (default 16). Once (Gemm). */
    public static int gemmStrip() {
        return SwitchValues.integer("starattn.gemmStrip", raw("starattn.gemmStrip"), 16, 1, "a positive integer");
    }

    /** {@code starattn.gemmTokenBlock}: tokens per pass over a strip in the tiled Java GEMM (default 64). Once (Gemm). */
    public static int gemmTokenBlock() {
        return SwitchValues.integer("starattn.gemmTokenBlock", raw("starattn.gemmTokenBlock"), 64, 1, "a positive integer");
    }

    /**
     * {@code starattn.fusedMaxBatch}: batches of at most this many tokens take the fused dequantize-dot path, larger ones
     * the tiled GEMM (default 1: decode only). Once (AbstractWeightMatrix).
     */
    public static int fusedMaxBatch() {
        return SwitchValues.integer("starattn.fusedMaxBatch", raw("starattn.fusedMaxBatch"), 1, Integer.MIN_VALUE, "an integer");
    }

    /** {@code starattn.softmax-exp}: {@code libm} takes the Vector API's EXP in the softmax instead of the polynomial (A/B runs). Once (SoftmaxExp2). */
    public static boolean softmaxExpLibm() {
        return "libm".equals(raw("starattn.softmax-exp"));
    }

    /** {@code starattn.attention}: the attention backend by name (default {@code java}); unknown names are logged and fall back. First use (AttentionBackends). */
    public static String attention() {
        return SwitchValues.text(raw("starattn.attention"), "java");
    }

    /**
     * {@code starattn.decode}: {@code auto}, {@code native} or {@code java} (default auto): which kernel runs the
     * batch-1 (decode) products of Q8_0 weights; others are logged and auto is used. First decode product (NativeQ8).
     */
    public static String decodeKernel() {
        return SwitchValues.text(raw("starattn.decode"), "auto");
    }

    /**
     * {@code starattn.prefillKernels}: {@code auto}, {@code native} or {@code java} (default auto): whether our C
     * kernels that give the Java kernels' bits run the prefill's attention tiles and f16 key transposes (AVX-512,
     * head size a multiple of 16) and Q8_0 dequantization (any x86-64); others are logged and auto is used.
     * First use (NativeAttention, NativeQ8).
     */
    public static String prefillKernels() {
        return SwitchValues.text(raw("starattn.prefillKernels"), "auto");
    }

    // ---- prefill GEMM engine (core's GemmBackends, module blas) ----

    /** {@code starattn.gemm}: {@code auto}, {@code native} or {@code java} (default auto); others are logged and auto is used. First batched product (GemmBackends). */
    public static String gemm() {
        return SwitchValues.text(raw("starattn.gemm"), "auto");
    }

    /**
     * {@code starattn.gemm.minBatch}: batches of fewer tokens stay on the Java kernel (default
     * {@link dev.starattn.tensor.GemmBackends#DEFAULT_MIN_BATCH}; raised to at least 2 by the reader). Once (GemmBackends).
     */
    public static int gemmMinBatch() {
        return SwitchValues.integer("starattn.gemm.minBatch", raw("starattn.gemm.minBatch"), dev.starattn.tensor.GemmBackends.DEFAULT_MIN_BATCH,
                Integer.MIN_VALUE, "an integer");
    }

    /**
     * {@code starattn.gemm.cache}: bytes of f32 weight copies the native GEMM keeps, e.g. {@code 2g} (default "0": it
     * dequantizes per call; blas parses the size). Per backend opened.
     */
    public static String gemmCache() {
        return SwitchValues.text(raw("starattn.gemm.cache"), "0");
    }

    /** {@code starattn.native.dir}: folder the OpenBLAS libraries are copied to and loaded from (default: a cache folder). Per load. */
    public static String nativeDir() {
        return raw("starattn.native.dir");
    }

    // ---- files ----

    /** {@code starattn.cache.home}: folder of the model-hash cache (default: $XDG_CACHE_HOME/starattn or ~/.cache/starattn). Per call (ModelHash). */
    public static String cacheHome() {
        return raw("starattn.cache.home");
    }

    /** {@code starattn.home}: the install folder, set by the {@code starattn} launcher; {@code demo} finds its model there (default "."). Per call. */
    public static String home() {
        return SwitchValues.text(raw("starattn.home"), ".");
    }

    // ---- GPU backend (module cuda) ----

    /** {@code starattn.cuda.graphs}: single-token steps replay a captured CUDA graph where they can (default true). Per CudaStarQuery. */
    public static boolean cudaGraphs() {
        return SwitchValues.bool("starattn.cuda.graphs", raw("starattn.cuda.graphs"), true);
    }

    /** {@code starattn.cuda.mergeOnce}: one merge over every host's unmerged decode splits a layer (default true; false to compare). Per CudaStarQuery. */
    public static boolean cudaMergeOnce() {
        return SwitchValues.bool("starattn.cuda.mergeOnce", raw("starattn.cuda.mergeOnce"), true);
    }

    /** {@code starattn.cuda.peerSync}: wait for the GPUs explicitly around peer copies (default true). Per CudaStarQuery. */
    public static boolean cudaPeerSync() {
        return SwitchValues.bool("starattn.cuda.peerSync", raw("starattn.cuda.peerSync"), true);
    }

    /** {@code starattn.cuda.decodeKernel}: few query rows over a bf16 cache take a decode kernel rather than flash_attn_fwd (default true). Per CudaAttention. */
    public static boolean cudaDecodeKernel() {
        return SwitchValues.bool("starattn.cuda.decodeKernel", raw("starattn.cuda.decodeKernel"), true);
    }

    /** {@code starattn.cuda.decodeTiled}: the tiled decode kernel where the head dim allows (default true; false to compare). Per CudaAttention. */
    public static boolean cudaDecodeTiled() {
        return SwitchValues.bool("starattn.cuda.decodeTiled", raw("starattn.cuda.decodeTiled"), true);
    }

    /**
     * {@code starattn.cuda.tc}: the tensor-core attention kernel by name, used on any GPU (unset: the default kernel, on
     * Hopper only; null here). CudaAttention checks the name. Per CudaAttention.
     */
    public static String cudaTc() {
        return raw("starattn.cuda.tc");
    }

    /** {@code starattn.cuda.decodeBlocksPerSm}: decode kernel blocks per SM over all kv heads (default 0: by kernel). Per CudaAttention. */
    public static int cudaDecodeBlocksPerSm() {
        return SwitchValues.integer("starattn.cuda.decodeBlocksPerSm", raw("starattn.cuda.decodeBlocksPerSm"), 0, Integer.MIN_VALUE, "an integer");
    }

    /** {@code starattn.cuda.decodeMinKeys}: keys a decode split holds at least (default 256). Per CudaAttention. */
    public static int cudaDecodeMinKeys() {
        return SwitchValues.integer("starattn.cuda.decodeMinKeys", raw("starattn.cuda.decodeMinKeys"), 256, Integer.MIN_VALUE, "an integer");
    }

    /** {@code starattn.cuda.decodeMaxSplits}: most key splits of one decode launch (default 128). Per CudaAttention. */
    public static int cudaDecodeMaxSplits() {
        return SwitchValues.integer("starattn.cuda.decodeMaxSplits", raw("starattn.cuda.decodeMaxSplits"), 128, Integer.MIN_VALUE, "an integer");
    }

    // ---- GPU checks and benchmarks (module bench) ----

    /** {@code starattn.selfcheck.sections}: comma-separated sections CudaSelfCheck runs (unset: all; null here). Once. */
    public static String selfcheckSections() {
        return raw("starattn.selfcheck.sections");
    }

    /** {@code starattn.bench.graphs}: {@code both} makes CudaStarBench decode with and without CUDA graphs (unset: as cuda.graphs; null here). Once. */
    public static String benchGraphs() {
        return raw("starattn.bench.graphs");
    }

    /** {@code starattn.bench.kernels}: comma-separated kernels CudaAttentionBench times, e.g. CUDNN,F32 (unset: all; null here). Per run. */
    public static String benchKernels() {
        return raw("starattn.bench.kernels");
    }

    /** Parses every typed switch: throws the first one's sentence if a value is unusable. */
    public static void check() {
        threads();
        spinMicros();
        gemmStrip();
        gemmTokenBlock();
        fusedMaxBatch();
        gemmMinBatch();
        cudaGraphs();
        cudaMergeOnce();
        cudaPeerSync();
        cudaDecodeKernel();
        cudaDecodeTiled();
        cudaDecodeBlocksPerSm();
        cudaDecodeMinKeys();
        cudaDecodeMaxSplits();
    }
}
