package dev.starattn.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * One GPU: its primary context (shared with cuBLAS), the kernels module (loaded from the embedded
 * fatbin: sm_90 code, PTX for other GPUs), a cuBLAS handle, and allocation, copy and launch helpers.
 * All work goes to the default stream, so that kernels, cuBLAS and copies are ordered; a decode step may be
 * captured once into a CUDA graph and replayed ({@link #capture}, {@link DecodeGraph}) on a stream that is ordered with it.
 * Thread-safe in the sense that every call makes the context current on the calling thread.
 */
public final class CudaDevice implements AutoCloseable {
    private static final String[] KERNELS = {"embed_bf16", "rmsnorm_bf16", "rmsnorm_rows_f32", "add_bias", "rope", "rope_q_bf16", "swiglu_bf16", "f32_to_bf16",
            "dequant_q8_0_bf16", "fill_normal_bf16", "kv_append", "kv_append_bf16", "flash_attn_fwd", "flash_attn_fwd_bf16kv", "flash_attn_tc_64",
            "flash_attn_tc_128", "flash_attn_tc_64_r128", "flash_attn_tc_128_r128", "flash_attn_wg_128", "flash_attn_wg_128_x2", "lse_merge", "lse_merge_wide",
            "flash_decode_bf16_1_64", "flash_decode_bf16_2_64", "flash_decode_bf16_4_64", "flash_decode_bf16_8_64",
            "flash_decode_bf16_1_128", "flash_decode_bf16_2_128", "flash_decode_bf16_4_128", "flash_decode_bf16_8_128",
            "flash_decode_bf16_1_256", "flash_decode_bf16_2_256", "flash_decode_bf16_4_256", "flash_decode_bf16_8_256",
            "flash_decode_tiled_bf16_1_64", "flash_decode_tiled_bf16_2_64", "flash_decode_tiled_bf16_4_64", "flash_decode_tiled_bf16_8_64",
            "flash_decode_tiled_bf16_1_128", "flash_decode_tiled_bf16_2_128", "flash_decode_tiled_bf16_4_128", "flash_decode_tiled_bf16_8_128"};
    /** Kernels whose dynamic shared memory may exceed the default 48 KiB. */
    private static final String[] BIG_SMEM = {"flash_attn_fwd", "flash_attn_fwd_bf16kv", "flash_attn_tc_64", "flash_attn_tc_128",
            "flash_attn_tc_64_r128", "flash_attn_tc_128_r128", "flash_attn_wg_128", "flash_attn_wg_128_x2"};
    static final int MAX_ATTN_SMEM = 160 * 1024;  // Hopper allows 227 KiB per block
    /** Kernel launches and GEMMs issued on this device so far (benchmarks report them per token). */
    long launches;
    /**
     * Host time spent issuing them (ns): against a decode step's wall time it says how launch-bound decode is (the
     * host enqueues asynchronously, so a step whose enqueue time is its wall time keeps the GPU waiting on the host).
     */
    long enqueueNanos;
    /**
     * Allocations and frees on this device so far. A captured graph ({@link DecodeGraph}) holds raw device pointers,
     * so its owner recaptures when this has moved since the capture.
     */
    long memoryEpoch;
    /**
     * Where launches and GEMMs go: the legacy default stream (NULL), except while {@link #capture} records work into
     * {@link #captureStream}. That stream is created blocking, so a graph replayed on it is ordered after everything
     * queued before on the default stream and before everything queued after: the engine's copies and syncs need no change.
     */
    private MemorySegment stream = MemorySegment.NULL;
    private MemorySegment captureStream;

    private final CudaDriver drv;
    private final Cublas blas;
    private final int ordinal;
    private final int device;  // the CUdevice handle
    private final String name;
    private final MemorySegment ctx;
    private final MemorySegment module;
    private final MemorySegment cublasHandle;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero;
    private final int smCount;
    private final int computeCapability;
    private boolean closed;
    private CudnnSdpa cudnn;
    private CudaException cudnnFailure;

    private CudaDevice(int ordinal) {
        this.drv = CudaDriver.get();
        this.ordinal = ordinal;
        int count = deviceCount();
        if (count == 0) throw new CudaException("no CUDA GPU is visible (cuDeviceGetCount = 0); run with --device cpu");
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaException("GPU " + ordinal + " does not exist: " + count + " GPU(s) are visible (0.." + (count - 1) + ")");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dev = a.allocate(JAVA_INT);
            drv.check((int) drv.cuDeviceGet.invokeExact(dev, ordinal), "cuDeviceGet");
            device = dev.get(JAVA_INT, 0);
            MemorySegment buf = a.allocate(256);
            drv.check((int) drv.cuDeviceGetName.invokeExact(buf, 256, device), "cuDeviceGetName");
            name = buf.getString(0);
            MemorySegment attr = a.allocate(JAVA_INT);
            drv.check((int) drv.cuDeviceGetAttribute.invokeExact(attr, 16, device), "cuDeviceGetAttribute"); // MULTIPROCESSOR_COUNT
            smCount = attr.get(JAVA_INT, 0);
            drv.check((int) drv.cuDeviceGetAttribute.invokeExact(attr, 75, device), "cuDeviceGetAttribute"); // COMPUTE_CAPABILITY_MAJOR
            int major = attr.get(JAVA_INT, 0);
            drv.check((int) drv.cuDeviceGetAttribute.invokeExact(attr, 76, device), "cuDeviceGetAttribute"); // COMPUTE_CAPABILITY_MINOR
            computeCapability = 10 * major + attr.get(JAVA_INT, 0);
            MemorySegment pctx = a.allocate(ADDRESS);
            drv.check((int) drv.cuDevicePrimaryCtxRetain.invokeExact(pctx, device), "cuDevicePrimaryCtxRetain");
            ctx = pctx.get(ADDRESS, 0);
            makeCurrent();
            byte[] image = kernelImage();
            MemorySegment img = a.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, img, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, image.length);
            MemorySegment pmod = a.allocate(ADDRESS);
            int rc = (int) drv.cuModuleLoadData.invokeExact(pmod, img);
            if (rc != 0) {
                throw new CudaException("the GPU kernels could not be loaded on " + name + " (cuModuleLoadData: " + drv.errorName(rc)
                        + "); the driver may be older than the CUDA 13 toolkit that built them");
            }
            module = pmod.get(ADDRESS, 0);
            for (String k : KERNELS) {
                MemorySegment pf = a.allocate(ADDRESS);
                drv.check((int) drv.cuModuleGetFunction.invokeExact(pf, module, a.allocateFrom(k)), "cuModuleGetFunction " + k);
                functions.put(k, pf.get(ADDRESS, 0));
            }
            // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
            for (String k : BIG_SMEM) {
                drv.check((int) drv.cuFuncSetAttribute.invokeExact(functions.get(k), 8, MAX_ATTN_SMEM), "cuFuncSetAttribute " + k);
            }
            this.blas = Cublas.get();
            MemorySegment ph = a.allocate(ADDRESS);
            Cublas.check((int) blas.create.invokeExact(ph), "cublasCreate");
            cublasHandle = ph.get(ADDRESS, 0);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("CUDA setup failed: " + t, t);
        }
        one = arena.allocate(JAVA_FLOAT);
        one.set(JAVA_FLOAT, 0, 1f);
        zero = arena.allocate(JAVA_FLOAT);
        zero.set(JAVA_FLOAT, 0, 0f);
    }

    /** Opens GPU {@code ordinal}; a {@link CudaException} says why that is impossible. */
    public static CudaDevice open(int ordinal) {
        return new CudaDevice(ordinal);
    }

    /** Null when a GPU can be used, else the reason why not (for tests that skip without one). */
    public static String unavailableReason() {
        try {
            int n = deviceCount();
            return n > 0 ? null : "no CUDA GPU is visible";
        } catch (CudaException e) {
            return e.getMessage();
        } catch (Throwable t) {
            return t.toString();
        }
    }

    public static int deviceCount() {
        CudaDriver d = CudaDriver.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            int rc = (int) d.cuDeviceGetCount.invokeExact(n);
            if (rc == 100) return 0;
            d.check(rc, "cuDeviceGetCount");
            return n.get(JAVA_INT, 0);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    static byte[] kernelImage() {
        try (InputStream in = CudaDevice.class.getResourceAsStream("kernels.fatbin")) {
            if (in == null) throw new CudaException("the GPU kernels are missing from the jar (dev/starattn/cuda/kernels.fatbin)");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new CudaException("the GPU kernels could not be read: " + e.getMessage(), e);
        }
    }

    public String name() {
        return name;
    }

    public int ordinal() {
        return ordinal;
    }

    public int multiprocessors() {
        return smCount;
    }

    /** Compute capability as 10 * major + minor (90 for Hopper). */
    public int computeCapability() {
        return computeCapability;
    }

    /** The context this thread made current last (primary contexts are never released, so the handle stays valid). */
    private static final ThreadLocal<Long> CURRENT_CTX = new ThreadLocal<>();

    public void makeCurrent() {
        Long cur = CURRENT_CTX.get();
        if (cur != null && cur == ctx.address()) return;  // nothing else in this process sets a context
        try {
            drv.check((int) drv.cuCtxSetCurrent.invokeExact(ctx), "cuCtxSetCurrent");
            CURRENT_CTX.set(ctx.address());
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    /** {free, total} bytes of device memory. */
    public long[] memoryInfo() {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_LONG), t = a.allocate(JAVA_LONG);
            drv.check((int) drv.cuMemGetInfo.invokeExact(f, t), "cuMemGetInfo");
            return new long[] {f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    /** Fails with a clear message when fewer than {@code bytes} are free. */
    public void requireFree(long bytes, String what) {
        long[] m = memoryInfo();
        if (m[0] < bytes) {
            throw new CudaException(String.format("%s needs %.2f GiB of GPU memory but only %.2f GiB of %.2f GiB are free on %s",
                    what, bytes / 1073741824.0, m[0] / 1073741824.0, m[1] / 1073741824.0, name));
        }
    }

    public long alloc(long bytes) {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            memoryEpoch++;
            int rc = (int) drv.cuMemAlloc.invokeExact(p, Math.max(bytes, 4L));
            if (rc == 2) {
                long[] m = memoryInfo();
                throw new CudaException(String.format("out of GPU memory on %s: %.2f GiB asked, %.2f GiB free of %.2f GiB",
                        name, bytes / 1073741824.0, m[0] / 1073741824.0, m[1] / 1073741824.0));
            }
            drv.check(rc, "cuMemAlloc(" + bytes + " bytes)");
            return p.get(JAVA_LONG, 0);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    public void free(long ptr) {
        if (ptr == 0) return;
        makeCurrent();
        memoryEpoch++;
        call(() -> (int) drv.cuMemFree.invokeExact(ptr), "cuMemFree");
    }

    private void htod(long dst, MemorySegment src, long bytes) {
        if (bytes == 0) return;
        call(() -> (int) drv.cuMemcpyHtoD.invokeExact(dst, src, bytes), "cuMemcpyHtoD");
    }

    private void dtoh(MemorySegment dst, long src, long bytes) {
        if (bytes == 0) return;
        call(() -> (int) drv.cuMemcpyDtoH.invokeExact(dst, src, bytes), "cuMemcpyDtoH");
    }

    public void copyIn(long dst, float[] src, int off, int len) {
        makeCurrent();
        htod(dst, MemorySegment.ofArray(src).asSlice(4L * off, 4L * len), 4L * len);
    }

    public void copyIn(long dst, int[] src, int off, int len) {
        makeCurrent();
        htod(dst, MemorySegment.ofArray(src).asSlice(4L * off, 4L * len), 4L * len);
    }

    public void copyIn(long dst, short[] src, int off, int len) {
        makeCurrent();
        htod(dst, MemorySegment.ofArray(src).asSlice(2L * off, 2L * len), 2L * len);
    }

    public void copyIn(long dst, byte[] src, int off, int len) {
        makeCurrent();
        htod(dst, MemorySegment.ofArray(src).asSlice(off, len), len);
    }

    public void copyOut(long src, float[] dst, int off, int len) {
        makeCurrent();
        dtoh(MemorySegment.ofArray(dst).asSlice(4L * off, 4L * len), src, 4L * len);
    }

    public void copyOut(long src, short[] dst, int off, int len) {
        makeCurrent();
        dtoh(MemorySegment.ofArray(dst).asSlice(2L * off, 2L * len), src, 2L * len);
    }

    public void copyDtoD(long dst, long src, long bytes) {
        if (bytes == 0) return;
        makeCurrent();
        call(() -> (int) drv.cuMemcpyDtoD.invokeExact(dst, src, bytes), "cuMemcpyDtoD");
    }

    /**
     * Copies {@code bytes} from {@code src} on GPU {@code from} to {@code dst} on GPU {@code to}: {@code cuMemcpyDtoD}
     * when both are the same GPU, else {@code cuMemcpyPeer} (direct over NVLink/PCIe where peer access is enabled,
     * {@link #enablePeerAccess}, else staged by the driver). Both are asynchronous to the host and, on the legacy
     * default stream that all our work uses, ordered after the work already queued on both GPUs and before the
     * work queued later (the driver's documented semantics of cuMemcpyPeer; callers that want not to rely on it
     * synchronize the source GPU first, see CudaStarQuery).
     */
    public static void copyPeer(CudaDevice to, long dst, CudaDevice from, long src, long bytes) {
        if (bytes == 0) return;
        if (to == from) {
            to.copyDtoD(dst, src, bytes);
            return;
        }
        to.makeCurrent();
        try {
            to.drv.check((int) to.drv.cuMemcpyPeer.invokeExact(dst, to.ctx, src, from.ctx, bytes),
                    "cuMemcpyPeer (GPU " + from.ordinal + " -> GPU " + to.ordinal + ", " + bytes + " bytes)");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    /**
     * Lets this GPU's context reach {@code other}'s memory directly ({@code cuCtxEnablePeerAccess}); true when it
     * can (already enabled counts), false when the two GPUs cannot reach each other (then peer copies are staged
     * through the host by the driver: correct, slower). The same GPU: true.
     */
    public boolean enablePeerAccess(CudaDevice other) {
        if (other == this) return true;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment can = a.allocate(JAVA_INT);
            drv.check((int) drv.cuDeviceCanAccessPeer.invokeExact(can, device, other.device), "cuDeviceCanAccessPeer");
            if (can.get(JAVA_INT, 0) == 0) return false;
            makeCurrent();
            int rc = (int) drv.cuCtxEnablePeerAccess.invokeExact(other.ctx, 0);
            if (rc == 0 || rc == 704) return true;  // 704: CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED
            System.err.println("cuCtxEnablePeerAccess GPU " + ordinal + " -> GPU " + other.ordinal + ": " + drv.errorName(rc)
                    + "; peer copies go through the host");
            return false;
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    public long upload(float[] a) {
        long p = alloc(4L * a.length);
        copyIn(p, a, 0, a.length);
        return p;
    }

    public long upload(int[] a) {
        long p = alloc(4L * a.length);
        copyIn(p, a, 0, a.length);
        return p;
    }

    public float[] download(long p, int n) {
        float[] out = new float[n];
        copyOut(p, out, 0, n);
        return out;
    }

    public void synchronize() {
        makeCurrent();
        call(() -> (int) drv.cuCtxSynchronize.invokeExact(), "cuCtxSynchronize (a kernel failed)");
    }

    /**
     * Launches a kernel of the module on the default stream (into the graph while {@link #capture} runs); args are Long
     * (pointers, sizes), Integer or Float.
     */
    public void launch(String kernel, int gx, int gy, int gz, int block, int smem, Object... args) {
        long t0 = System.nanoTime();
        launches++;
        MemorySegment f = functions.get(kernel);
        if (f == null) throw new IllegalArgumentException("no kernel " + kernel);
        if (args.length > LaunchArgs.MAX) throw new IllegalArgumentException(kernel + ": " + args.length + " arguments, at most " + LaunchArgs.MAX);
        makeCurrent();
        // cuLaunchKernel copies the arguments before it returns, so one buffer per thread serves every launch (a
        // confined arena per launch cost several microseconds of the ~10 a launch took; decode makes 550 a token).
        LaunchArgs la = LAUNCH_ARGS.get();
        for (int i = 0; i < args.length; i++) {
            long off = 8L * i;
            switch (args[i]) {
                case Long l -> la.values.set(JAVA_LONG, off, l);
                case Integer n -> la.values.set(JAVA_INT, off, n);
                case Float x -> la.values.set(JAVA_FLOAT, off, x);
                default -> throw new IllegalArgumentException("kernel argument " + args[i]);
            }
        }
        try {
            int rc = (int) drv.cuLaunchKernel.invokeExact(f, gx, gy, gz, block, 1, 1, smem, stream, la.pointers, MemorySegment.NULL);
            drv.check(rc, "launch of " + kernel);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        } finally {
            enqueueNanos += System.nanoTime() - t0;
        }
    }

    /** A thread's kernel-argument buffer: MAX 8-byte slots and the array of pointers to them that cuLaunchKernel reads. */
    private static final class LaunchArgs {
        static final int MAX = 32;
        final MemorySegment values;
        final MemorySegment pointers;

        LaunchArgs() {
            Arena a = Arena.ofAuto();
            values = a.allocate(8L * MAX, 8);
            pointers = a.allocate(ADDRESS, MAX);
            for (int i = 0; i < MAX; i++) pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i, 8));
        }
    }

    private static final ThreadLocal<LaunchArgs> LAUNCH_ARGS = ThreadLocal.withInitial(LaunchArgs::new);

    /** A driver call through its method handle ({@code invokeExact} declares Throwable): returns the CUresult. */
    @FunctionalInterface
    private interface DriverCall {
        int invoke() throws Throwable;
    }

    /** Runs a driver call and turns a failed CUresult, or anything it throws, into a {@link CudaException} naming {@code what}. */
    private void call(DriverCall c, String what) {
        int rc;
        try {
            rc = c.invoke();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
        drv.check(rc, what);
    }

    /** Blocks for a grid-stride kernel over {@code total} elements. */
    int gridFor(long total, int block) {
        long b = (total + block - 1) / block;
        return (int) Math.max(1, Math.min(b, (long) smCount * 16));
    }

    /**
     * C[n x rows] (f32, token-major) = beta * C + W[rows x cols] (bf16, row-major) . X[n x cols]^T (bf16):
     * {@code out[t][r] = sum_c W[r][c] x[t][c]}, f32 accumulation.
     */
    public void gemmBf16(long w, long x, long c, int rows, int cols, int n, boolean accumulate) {
        long t0 = System.nanoTime();
        launches++;
        makeCurrent();
        // A conditional would be typed Object by invokeExact's signature polymorphism: use a local.
        MemorySegment beta = accumulate ? one : zero;
        try {
            Cublas.check((int) blas.gemmEx.invokeExact(cublasHandle, Cublas.OP_T, Cublas.OP_N, rows, n, cols,
                    one, w, Cublas.R_16BF, cols, x, Cublas.R_16BF, cols,
                    beta, c, Cublas.R_32F, rows, Cublas.COMPUTE_32F, Cublas.GEMM_DEFAULT), "cublasGemmEx");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        } finally {
            enqueueNanos += System.nanoTime() - t0;
        }
    }

    /** dst (cols x rows, f32) = the transpose of src (rows x cols, f32, row-major), by cuBLAS. */
    public void transposeF32(long src, long dst, int rows, int cols) {
        makeCurrent();
        try {
            // Column-major: src is a cols x rows matrix A (ld cols); C = A^T is rows x cols (ld rows) = dst row-major.
            Cublas.check((int) blas.sgeam.invokeExact(cublasHandle, Cublas.OP_T, Cublas.OP_N, rows, cols,
                    one, src, cols, zero, dst, rows, dst, rows), "cublasSgeam");
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    /**
     * cuDNN's fused attention on this GPU, opened on first use (a handle and a plan cache), or a
     * {@link CudaException} that says why it cannot be used (the same one every time).
     */
    /** cuDNN on this device if it was opened already, else null (nothing is loaded). */
    synchronized CudnnSdpa cudnnIfOpen() {
        return cudnn;
    }

    synchronized CudnnSdpa cudnn() {
        if (cudnn != null) return cudnn;
        if (cudnnFailure != null) throw cudnnFailure;
        try {
            cudnn = CudnnSdpa.open(this);
            return cudnn;
        } catch (CudaException e) {
            cudnnFailure = e;
            throw e;
        }
    }

    /**
     * Records the launches and GEMMs that {@code work} issues on this device into a CUDA graph instead of running
     * them, and returns the graph instantiated (a {@code CUgraphExec}, for {@link #launchGraph}). {@code work} must
     * issue nothing but kernel launches and GEMMs on this device (no copies, allocations or syncs: those go to the
     * default stream, which a capture may not touch) and must not be run by another thread at the same time.
     * A failure inside {@code work} or of the capture ends the capture and throws; the device stays usable.
     */
    MemorySegment capture(Runnable work) {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            if (captureStream == null) {
                MemorySegment ps = a.allocate(ADDRESS);
                drv.check((int) drv.cuStreamCreate.invokeExact(ps, 0), "cuStreamCreate");  // 0: blocking, ordered with the default stream
                captureStream = ps.get(ADDRESS, 0);
            }
            Cublas.check((int) blas.setStream.invokeExact(cublasHandle, captureStream), "cublasSetStream");
            // Relaxed (2): cuBLAS may query the device during capture; nothing else runs on this device meanwhile.
            drv.check((int) drv.cuStreamBeginCapture.invokeExact(captureStream, 2), "cuStreamBeginCapture");
            stream = captureStream;
            RuntimeException failed = null;
            try {
                work.run();
            } catch (RuntimeException e) {
                failed = e;
            }
            stream = MemorySegment.NULL;
            MemorySegment pg = a.allocate(ADDRESS);
            int rc = (int) drv.cuStreamEndCapture.invokeExact(captureStream, pg);
            Cublas.check((int) blas.setStream.invokeExact(cublasHandle, MemorySegment.NULL), "cublasSetStream");
            MemorySegment graph = rc == 0 ? pg.get(ADDRESS, 0) : MemorySegment.NULL;
            try {
                if (failed != null) throw failed;
                drv.check(rc, "cuStreamEndCapture");
                MemorySegment pe = a.allocate(ADDRESS);
                drv.check((int) drv.cuGraphInstantiateWithFlags.invokeExact(pe, graph, 0L), "cuGraphInstantiate");
                return pe.get(ADDRESS, 0);
            } finally {
                if (!graph.equals(MemorySegment.NULL)) {
                    int r = (int) drv.cuGraphDestroy.invokeExact(graph);  // the instantiated graph keeps what it needs
                }
            }
        } catch (RuntimeException e) {
            stream = MemorySegment.NULL;
            throw e;
        } catch (Throwable t) {
            stream = MemorySegment.NULL;
            throw new CudaException("CUDA graph capture failed: " + t, t);
        }
    }

    /** Runs a graph from {@link #capture}, ordered with the default stream's work before and after it. */
    void launchGraph(MemorySegment exec) {
        long t0 = System.nanoTime();
        launches++;
        makeCurrent();
        try {
            call(() -> (int) drv.cuGraphLaunch.invokeExact(exec, captureStream), "cuGraphLaunch");
        } finally {
            enqueueNanos += System.nanoTime() - t0;
        }
    }

    /** Frees a graph from {@link #capture}. */
    void destroyGraph(MemorySegment exec) {
        if (exec == null || exec.equals(MemorySegment.NULL)) return;
        makeCurrent();
        call(() -> (int) drv.cuGraphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
    }

    /** Milliseconds of GPU time that {@code work} takes, by CUDA events on the default stream. */
    public float timeMillis(Runnable work) {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p0 = a.allocate(ADDRESS), p1 = a.allocate(ADDRESS), ms = a.allocate(JAVA_FLOAT);
            drv.check((int) drv.cuEventCreate.invokeExact(p0, 0), "cuEventCreate");
            drv.check((int) drv.cuEventCreate.invokeExact(p1, 0), "cuEventCreate");
            MemorySegment e0 = p0.get(ADDRESS, 0), e1 = p1.get(ADDRESS, 0);
            drv.check((int) drv.cuEventRecord.invokeExact(e0, MemorySegment.NULL), "cuEventRecord");
            work.run();
            drv.check((int) drv.cuEventRecord.invokeExact(e1, MemorySegment.NULL), "cuEventRecord");
            drv.check((int) drv.cuEventSynchronize.invokeExact(e1), "cuEventSynchronize");
            drv.check((int) drv.cuEventElapsedTime.invokeExact(ms, e0, e1), "cuEventElapsedTime");
            int r0 = (int) drv.cuEventDestroy.invokeExact(e0);
            int r1 = (int) drv.cuEventDestroy.invokeExact(e1);
            return ms.get(JAVA_FLOAT, 0);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException(t.toString(), t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            makeCurrent();
            if (cudnn != null) cudnn.close();
            if (captureStream != null) {
                int r0 = (int) drv.cuStreamDestroy.invokeExact(captureStream);
            }
            int r1 = (int) blas.destroy.invokeExact(cublasHandle);
            int r2 = (int) drv.cuModuleUnload.invokeExact(module);
        } catch (Throwable ignored) {
            // best effort
        }
        arena.close();
    }
}
