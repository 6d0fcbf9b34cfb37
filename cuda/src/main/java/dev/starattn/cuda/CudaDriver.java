package dev.starattn.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The few CUDA driver API entry points the engine needs, bound through FFM (no JNI). Handles are
 * {@code long}s (CUdeviceptr) or addresses (contexts, modules, functions, streams, events). Copies
 * between the Java heap and the device pass heap arrays straight to the driver (critical downcalls).
 */
final class CudaDriver {
    static final Linker LINKER = Linker.nativeLinker();
    private static volatile CudaDriver instance;
    private static volatile CudaException failure;

    final MethodHandle cuInit, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceTotalMem, cuDeviceGetAttribute,
            cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize,
            cuMemAlloc, cuMemFree, cuMemGetInfo, cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD, cuMemsetD8,
            cuMemcpyPeer, cuCtxEnablePeerAccess, cuDeviceCanAccessPeer,
            cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuFuncSetAttribute, cuLaunchKernel,
            cuStreamCreate, cuStreamDestroy, cuStreamSynchronize,
            cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiateWithFlags, cuGraphLaunch, cuGraphExecDestroy, cuGraphDestroy,
            cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventElapsedTime, cuEventDestroy, cuGetErrorName, cuGetErrorString;

    private CudaDriver(SymbolLookup lib) {
        cuInit = h(lib, "cuInit", JAVA_INT);
        cuDeviceGetCount = h(lib, "cuDeviceGetCount", ADDRESS);
        cuDeviceGet = h(lib, "cuDeviceGet", ADDRESS, JAVA_INT);
        cuDeviceGetName = h(lib, "cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
        cuDeviceTotalMem = h(lib, "cuDeviceTotalMem_v2", ADDRESS, JAVA_INT);
        cuDeviceGetAttribute = h(lib, "cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        cuDevicePrimaryCtxRetain = h(lib, "cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
        cuDevicePrimaryCtxRelease = h(lib, "cuDevicePrimaryCtxRelease_v2", JAVA_INT);
        cuCtxSetCurrent = h(lib, "cuCtxSetCurrent", ADDRESS);
        cuCtxSynchronize = h(lib, "cuCtxSynchronize");
        cuMemAlloc = h(lib, "cuMemAlloc_v2", ADDRESS, JAVA_LONG);
        cuMemFree = h(lib, "cuMemFree_v2", JAVA_LONG);
        cuMemGetInfo = h(lib, "cuMemGetInfo_v2", ADDRESS, ADDRESS);
        cuMemcpyHtoD = critical(lib, "cuMemcpyHtoD_v2", JAVA_LONG, ADDRESS, JAVA_LONG);
        cuMemcpyDtoH = critical(lib, "cuMemcpyDtoH_v2", ADDRESS, JAVA_LONG, JAVA_LONG);
        cuMemcpyDtoD = h(lib, "cuMemcpyDtoD_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG);
        cuMemsetD8 = h(lib, "cuMemsetD8_v2", JAVA_LONG, JAVA_INT, JAVA_LONG);
        // cuMemcpyPeer(dst, dstContext, src, srcContext, bytes): between the memories of two contexts (GPUs).
        cuMemcpyPeer = h(lib, "cuMemcpyPeer", JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG);
        cuCtxEnablePeerAccess = h(lib, "cuCtxEnablePeerAccess", ADDRESS, JAVA_INT);
        cuDeviceCanAccessPeer = h(lib, "cuDeviceCanAccessPeer", ADDRESS, JAVA_INT, JAVA_INT);
        cuModuleLoadData = h(lib, "cuModuleLoadData", ADDRESS, ADDRESS);
        cuModuleUnload = h(lib, "cuModuleUnload", ADDRESS);
        cuModuleGetFunction = h(lib, "cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS);
        cuFuncSetAttribute = h(lib, "cuFuncSetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        cuLaunchKernel = h(lib, "cuLaunchKernel", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        cuStreamCreate = h(lib, "cuStreamCreate", ADDRESS, JAVA_INT);
        cuStreamDestroy = h(lib, "cuStreamDestroy_v2", ADDRESS);
        cuStreamSynchronize = h(lib, "cuStreamSynchronize", ADDRESS);
        // CUDA graphs (decode steps captured once, replayed per token: DecodeGraph).
        cuStreamBeginCapture = h(lib, "cuStreamBeginCapture_v2", ADDRESS, JAVA_INT);
        cuStreamEndCapture = h(lib, "cuStreamEndCapture", ADDRESS, ADDRESS);
        cuGraphInstantiateWithFlags = h(lib, "cuGraphInstantiateWithFlags", ADDRESS, ADDRESS, JAVA_LONG);
        cuGraphLaunch = h(lib, "cuGraphLaunch", ADDRESS, ADDRESS);
        cuGraphExecDestroy = h(lib, "cuGraphExecDestroy", ADDRESS);
        cuGraphDestroy = h(lib, "cuGraphDestroy", ADDRESS);
        cuEventCreate = h(lib, "cuEventCreate", ADDRESS, JAVA_INT);
        cuEventRecord = h(lib, "cuEventRecord", ADDRESS, ADDRESS);
        cuEventSynchronize = h(lib, "cuEventSynchronize", ADDRESS);
        cuEventElapsedTime = h(lib, "cuEventElapsedTime", ADDRESS, ADDRESS, ADDRESS);
        cuEventDestroy = h(lib, "cuEventDestroy_v2", ADDRESS);
        cuGetErrorName = h(lib, "cuGetErrorName", JAVA_INT, ADDRESS);
        cuGetErrorString = h(lib, "cuGetErrorString", JAVA_INT, ADDRESS);
    }

    /** The driver, loaded and initialised once; throws a {@link CudaException} saying why not. */
    static CudaDriver get() {
        CudaDriver d = instance;
        if (d != null) return d;
        synchronized (CudaDriver.class) {
            if (instance != null) return instance;
            if (failure != null) throw failure;
            try {
                SymbolLookup lib = NativeLibs.libcuda(Arena.global());
                d = new CudaDriver(lib);
                int rc = (int) d.cuInit.invokeExact(0);
                if (rc == 100) throw new CudaException("the NVIDIA driver reports no CUDA-capable GPU (cuInit: CUDA_ERROR_NO_DEVICE); run with --device cpu");
                if (rc != 0) throw new CudaException("the NVIDIA driver failed to initialise (cuInit: " + d.errorName(rc) + "); run with --device cpu");
                instance = d;
                return d;
            } catch (CudaException e) {
                failure = e;
                throw e;
            } catch (Throwable t) {
                failure = new CudaException("the CUDA driver could not be used: " + t.getMessage(), t);
                throw failure;
            }
        }
    }

    private static MethodHandle h(SymbolLookup lib, String name, java.lang.foreign.MemoryLayout... args) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new CudaException("the NVIDIA driver is too old: it lacks " + name));
        return LINKER.downcallHandle(sym, FunctionDescriptor.of(JAVA_INT, args));
    }

    private static MethodHandle critical(SymbolLookup lib, String name, java.lang.foreign.MemoryLayout... args) {
        MemorySegment sym = lib.find(name).orElseThrow(() -> new CudaException("the NVIDIA driver is too old: it lacks " + name));
        return LINKER.downcallHandle(sym, FunctionDescriptor.of(JAVA_INT, args), Linker.Option.critical(true));
    }

    String errorName(int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            String name = "error " + rc;
            if ((int) cuGetErrorName.invokeExact(rc, p) == 0) name = p.get(ADDRESS, 0).reinterpret(256).getString(0);
            if ((int) cuGetErrorString.invokeExact(rc, p) == 0) name += " (" + p.get(ADDRESS, 0).reinterpret(1024).getString(0) + ")";
            return name;
        } catch (Throwable t) {
            return "error " + rc;
        }
    }

    void check(int rc, String what) {
        if (rc != 0) {
            if (rc == 2) throw new CudaException(what + " failed: out of GPU memory (" + errorName(rc) + ")");
            throw new CudaException(what + " failed: " + errorName(rc));
        }
    }

    static final java.lang.foreign.ValueLayout FLOAT = JAVA_FLOAT;
}
