package dev.starattn.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/** cuBLAS through FFM: a handle, {@code cublasGemmEx} (bf16 or f16 inputs, f32 accumulation) and {@code cublasSgeam} (transposes). */
final class Cublas {
    static final int OP_N = 0, OP_T = 1;
    static final int R_32F = 0, R_16F = 2, R_16BF = 14;
    static final int COMPUTE_32F = 68;
    static final int GEMM_DEFAULT = -1;

    private static volatile Cublas instance;
    private static volatile CudaException failure;

    final MethodHandle create, destroy, setStream, gemmEx, getVersion, sgeam;

    private Cublas(SymbolLookup lib) {
        create = h(lib, "cublasCreate_v2", ADDRESS);
        destroy = h(lib, "cublasDestroy_v2", ADDRESS);
        setStream = h(lib, "cublasSetStream_v2", ADDRESS, ADDRESS);
        getVersion = h(lib, "cublasGetVersion_v2", ADDRESS, ADDRESS);
        gemmEx = h(lib, "cublasGemmEx", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
        // C = alpha op(A) + beta op(B), f32: a transpose (the LSE of cuDNN's attention when it packs it per head).
        sgeam = h(lib, "cublasSgeam", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT);
    }

    static Cublas get() {
        Cublas c = instance;
        if (c != null) return c;
        synchronized (Cublas.class) {
            if (instance != null) return instance;
            if (failure != null) throw failure;
            try {
                instance = new Cublas(NativeLibs.libcublas(Arena.global()));
                return instance;
            } catch (CudaException e) {
                failure = e;
                throw e;
            }
        }
    }

    private static MethodHandle h(SymbolLookup lib, String name, java.lang.foreign.MemoryLayout... args) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new CudaException("cuBLAS lacks " + name));
        return CudaDriver.LINKER.downcallHandle(sym, FunctionDescriptor.of(JAVA_INT, args));
    }

    static void check(int status, String what) {
        if (status != 0) {
            String name = switch (status) {
                case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
                case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
                case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
                case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
                case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
                case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
                case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
                default -> "status " + status;
            };
            throw new CudaException(what + " failed: " + name);
        }
    }
}
