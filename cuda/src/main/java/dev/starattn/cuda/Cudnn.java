package dev.starattn.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * cuDNN 9's backend (graph) API through FFM: a handle, and descriptors that are created, given
 * attributes, finalized, read and executed ({@code cudnnBackend*}). The enum values are those of
 * cuDNN 9's {@code cudnn_graph.h} ({@link #HEADER_NAMES} lists them by their C names, so that a program
 * built against the real header can check them: {@code CudnnProbe --emit-c}). {@link CudnnSdpa}
 * builds the fused attention graph with it.
 */
final class Cudnn {
    // cudnnBackendDescriptorType_t
    static final int POINTWISE_DESCRIPTOR = 0, ENGINE_DESCRIPTOR = 2, ENGINECFG_DESCRIPTOR = 3, ENGINEHEUR_DESCRIPTOR = 4,
            EXECUTION_PLAN_DESCRIPTOR = 5, OPERATION_POINTWISE_DESCRIPTOR = 13, OPERATIONGRAPH_DESCRIPTOR = 15,
            VARIANT_PACK_DESCRIPTOR = 16, TENSOR_DESCRIPTOR = 17, MATMUL_DESCRIPTOR = 18, OPERATION_MATMUL_DESCRIPTOR = 19,
            REDUCTION_DESCRIPTOR = 21, OPERATION_REDUCTION_DESCRIPTOR = 22;
    // cudnnBackendAttributeType_t
    static final int TYPE_HANDLE = 0, TYPE_DATA_TYPE = 1, TYPE_BOOLEAN = 2, TYPE_INT64 = 3, TYPE_FLOAT = 4, TYPE_VOID_PTR = 6,
            TYPE_HEUR_MODE = 8, TYPE_POINTWISE_MODE = 14, TYPE_BACKEND_DESCRIPTOR = 15, TYPE_REDUCTION_OPERATOR_TYPE = 18;
    // cudnnDataType_t
    static final int DATA_FLOAT = 0, DATA_HALF = 2, DATA_INT32 = 4, DATA_BFLOAT16 = 9, DATA_BOOLEAN = 11;
    // cudnnPointwiseMode_t
    static final int PW_ADD = 0, PW_MUL = 1, PW_DIV = 6, PW_SUB = 9, PW_EXP = 13, PW_LOG = 15, PW_CMP_GE = 303,
            PW_GEN_INDEX = 501, PW_BINARY_SELECT = 601;
    // cudnnReduceTensorOp_t
    static final int REDUCE_ADD = 0, REDUCE_MAX = 3;
    // cudnnBackendHeurMode_t
    static final int HEUR_MODE_FALLBACK = 2, HEUR_MODE_A = 3;
    // cudnnBackendAttributeName_t
    static final int ATTR_POINTWISE_MODE = 0, ATTR_POINTWISE_MATH_PREC = 1, ATTR_POINTWISE_AXIS = 9,
            ATTR_ENGINEHEUR_MODE = 200, ATTR_ENGINEHEUR_OPERATION_GRAPH = 201, ATTR_ENGINEHEUR_RESULTS = 202,
            ATTR_ENGINECFG_ENGINE = 300,
            ATTR_EXECUTION_PLAN_HANDLE = 400, ATTR_EXECUTION_PLAN_ENGINE_CONFIG = 401, ATTR_EXECUTION_PLAN_WORKSPACE_SIZE = 402,
            ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR = 750, ATTR_OPERATION_POINTWISE_XDESC = 751,
            ATTR_OPERATION_POINTWISE_BDESC = 752, ATTR_OPERATION_POINTWISE_YDESC = 753, ATTR_OPERATION_POINTWISE_TDESC = 758,
            ATTR_OPERATIONGRAPH_HANDLE = 800, ATTR_OPERATIONGRAPH_OPS = 801,
            ATTR_TENSOR_BYTE_ALIGNMENT = 900, ATTR_TENSOR_DATA_TYPE = 901, ATTR_TENSOR_DIMENSIONS = 902,
            ATTR_TENSOR_STRIDES = 903, ATTR_TENSOR_UNIQUE_ID = 906, ATTR_TENSOR_IS_VIRTUAL = 907, ATTR_TENSOR_IS_BY_VALUE = 908,
            ATTR_VARIANT_PACK_UNIQUE_IDS = 1000, ATTR_VARIANT_PACK_DATA_POINTERS = 1001, ATTR_VARIANT_PACK_WORKSPACE = 1003,
            ATTR_ENGINE_GLOBAL_INDEX = 1301,
            ATTR_MATMUL_COMP_TYPE = 1500, ATTR_OPERATION_MATMUL_ADESC = 1520, ATTR_OPERATION_MATMUL_BDESC = 1521,
            ATTR_OPERATION_MATMUL_CDESC = 1522, ATTR_OPERATION_MATMUL_DESC = 1523,
            ATTR_REDUCTION_OPERATOR = 1600, ATTR_REDUCTION_COMP_TYPE = 1601,
            ATTR_OPERATION_REDUCTION_XDESC = 1610, ATTR_OPERATION_REDUCTION_YDESC = 1611, ATTR_OPERATION_REDUCTION_DESC = 1612;

    /** Every value above by its name in cudnn_graph.h (checked against the real header on the GPU machine). */
    static final Object[][] HEADER_NAMES = {
        {"CUDNN_BACKEND_POINTWISE_DESCRIPTOR", POINTWISE_DESCRIPTOR}, {"CUDNN_BACKEND_ENGINE_DESCRIPTOR", ENGINE_DESCRIPTOR},
        {"CUDNN_BACKEND_ENGINECFG_DESCRIPTOR", ENGINECFG_DESCRIPTOR}, {"CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR", ENGINEHEUR_DESCRIPTOR},
        {"CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR", EXECUTION_PLAN_DESCRIPTOR},
        {"CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR", OPERATION_POINTWISE_DESCRIPTOR},
        {"CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR", OPERATIONGRAPH_DESCRIPTOR},
        {"CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR", VARIANT_PACK_DESCRIPTOR}, {"CUDNN_BACKEND_TENSOR_DESCRIPTOR", TENSOR_DESCRIPTOR},
        {"CUDNN_BACKEND_MATMUL_DESCRIPTOR", MATMUL_DESCRIPTOR}, {"CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR", OPERATION_MATMUL_DESCRIPTOR},
        {"CUDNN_BACKEND_REDUCTION_DESCRIPTOR", REDUCTION_DESCRIPTOR},
        {"CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR", OPERATION_REDUCTION_DESCRIPTOR},
        {"CUDNN_TYPE_HANDLE", TYPE_HANDLE}, {"CUDNN_TYPE_DATA_TYPE", TYPE_DATA_TYPE}, {"CUDNN_TYPE_BOOLEAN", TYPE_BOOLEAN},
        {"CUDNN_TYPE_INT64", TYPE_INT64}, {"CUDNN_TYPE_FLOAT", TYPE_FLOAT}, {"CUDNN_TYPE_VOID_PTR", TYPE_VOID_PTR},
        {"CUDNN_TYPE_HEUR_MODE", TYPE_HEUR_MODE}, {"CUDNN_TYPE_POINTWISE_MODE", TYPE_POINTWISE_MODE},
        {"CUDNN_TYPE_BACKEND_DESCRIPTOR", TYPE_BACKEND_DESCRIPTOR},
        {"CUDNN_TYPE_REDUCTION_OPERATOR_TYPE", TYPE_REDUCTION_OPERATOR_TYPE},
        {"CUDNN_DATA_FLOAT", DATA_FLOAT}, {"CUDNN_DATA_HALF", DATA_HALF}, {"CUDNN_DATA_INT32", DATA_INT32},
        {"CUDNN_DATA_BFLOAT16", DATA_BFLOAT16}, {"CUDNN_DATA_BOOLEAN", DATA_BOOLEAN},
        {"CUDNN_POINTWISE_ADD", PW_ADD}, {"CUDNN_POINTWISE_MUL", PW_MUL}, {"CUDNN_POINTWISE_DIV", PW_DIV},
        {"CUDNN_POINTWISE_SUB", PW_SUB}, {"CUDNN_POINTWISE_EXP", PW_EXP}, {"CUDNN_POINTWISE_LOG", PW_LOG},
        {"CUDNN_POINTWISE_CMP_GE", PW_CMP_GE}, {"CUDNN_POINTWISE_GEN_INDEX", PW_GEN_INDEX},
        {"CUDNN_POINTWISE_BINARY_SELECT", PW_BINARY_SELECT},
        {"CUDNN_REDUCE_TENSOR_ADD", REDUCE_ADD}, {"CUDNN_REDUCE_TENSOR_MAX", REDUCE_MAX},
        {"CUDNN_HEUR_MODE_FALLBACK", HEUR_MODE_FALLBACK}, {"CUDNN_HEUR_MODE_A", HEUR_MODE_A},
        {"CUDNN_ATTR_POINTWISE_MODE", ATTR_POINTWISE_MODE}, {"CUDNN_ATTR_POINTWISE_MATH_PREC", ATTR_POINTWISE_MATH_PREC},
        {"CUDNN_ATTR_POINTWISE_AXIS", ATTR_POINTWISE_AXIS},
        {"CUDNN_ATTR_ENGINEHEUR_MODE", ATTR_ENGINEHEUR_MODE}, {"CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH", ATTR_ENGINEHEUR_OPERATION_GRAPH},
        {"CUDNN_ATTR_ENGINEHEUR_RESULTS", ATTR_ENGINEHEUR_RESULTS}, {"CUDNN_ATTR_ENGINECFG_ENGINE", ATTR_ENGINECFG_ENGINE},
        {"CUDNN_ATTR_EXECUTION_PLAN_HANDLE", ATTR_EXECUTION_PLAN_HANDLE},
        {"CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG", ATTR_EXECUTION_PLAN_ENGINE_CONFIG},
        {"CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE", ATTR_EXECUTION_PLAN_WORKSPACE_SIZE},
        {"CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR", ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR},
        {"CUDNN_ATTR_OPERATION_POINTWISE_XDESC", ATTR_OPERATION_POINTWISE_XDESC},
        {"CUDNN_ATTR_OPERATION_POINTWISE_BDESC", ATTR_OPERATION_POINTWISE_BDESC},
        {"CUDNN_ATTR_OPERATION_POINTWISE_YDESC", ATTR_OPERATION_POINTWISE_YDESC},
        {"CUDNN_ATTR_OPERATION_POINTWISE_TDESC", ATTR_OPERATION_POINTWISE_TDESC},
        {"CUDNN_ATTR_OPERATIONGRAPH_HANDLE", ATTR_OPERATIONGRAPH_HANDLE}, {"CUDNN_ATTR_OPERATIONGRAPH_OPS", ATTR_OPERATIONGRAPH_OPS},
        {"CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT", ATTR_TENSOR_BYTE_ALIGNMENT}, {"CUDNN_ATTR_TENSOR_DATA_TYPE", ATTR_TENSOR_DATA_TYPE},
        {"CUDNN_ATTR_TENSOR_DIMENSIONS", ATTR_TENSOR_DIMENSIONS}, {"CUDNN_ATTR_TENSOR_STRIDES", ATTR_TENSOR_STRIDES},
        {"CUDNN_ATTR_TENSOR_UNIQUE_ID", ATTR_TENSOR_UNIQUE_ID}, {"CUDNN_ATTR_TENSOR_IS_VIRTUAL", ATTR_TENSOR_IS_VIRTUAL},
        {"CUDNN_ATTR_TENSOR_IS_BY_VALUE", ATTR_TENSOR_IS_BY_VALUE},
        {"CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS", ATTR_VARIANT_PACK_UNIQUE_IDS},
        {"CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS", ATTR_VARIANT_PACK_DATA_POINTERS},
        {"CUDNN_ATTR_VARIANT_PACK_WORKSPACE", ATTR_VARIANT_PACK_WORKSPACE},
        {"CUDNN_ATTR_ENGINE_GLOBAL_INDEX", ATTR_ENGINE_GLOBAL_INDEX},
        {"CUDNN_ATTR_MATMUL_COMP_TYPE", ATTR_MATMUL_COMP_TYPE},
        {"CUDNN_ATTR_OPERATION_MATMUL_ADESC", ATTR_OPERATION_MATMUL_ADESC},
        {"CUDNN_ATTR_OPERATION_MATMUL_BDESC", ATTR_OPERATION_MATMUL_BDESC},
        {"CUDNN_ATTR_OPERATION_MATMUL_CDESC", ATTR_OPERATION_MATMUL_CDESC},
        {"CUDNN_ATTR_OPERATION_MATMUL_DESC", ATTR_OPERATION_MATMUL_DESC},
        {"CUDNN_ATTR_REDUCTION_OPERATOR", ATTR_REDUCTION_OPERATOR}, {"CUDNN_ATTR_REDUCTION_COMP_TYPE", ATTR_REDUCTION_COMP_TYPE},
        {"CUDNN_ATTR_OPERATION_REDUCTION_XDESC", ATTR_OPERATION_REDUCTION_XDESC},
        {"CUDNN_ATTR_OPERATION_REDUCTION_YDESC", ATTR_OPERATION_REDUCTION_YDESC},
        {"CUDNN_ATTR_OPERATION_REDUCTION_DESC", ATTR_OPERATION_REDUCTION_DESC},
    };

    /** The oldest cuDNN whose backend API has these names and values (cudnnGetVersion: major * 10000 + minor * 100 + patch). */
    static final long MIN_VERSION = 90000;

    /** A cuDNN call that returned an error status. */
    static final class Status extends CudaException {
        final int code;

        Status(int code, String message) {
            super(message);
            this.code = code;
        }

        /** CUDNN_STATUS_NOT_SUPPORTED and its sub-codes (3000-3999): this graph or shape has no engine here. */
        boolean notSupported() {
            return code / 1000 == 3;
        }
    }

    private static volatile Cudnn instance;
    private static volatile CudaException failure;

    final long version;
    private final MethodHandle getErrorString, create, destroy, setStream, createDesc, destroyDesc, finalizeDesc, setAttr, getAttr,
            execute;
    private final MethodHandle getLastErrorString;  // cuDNN 9.0+; null if absent

    private Cudnn(SymbolLookup lib) {
        MethodHandle gv = CudaDriver.LINKER.downcallHandle(find(lib, "cudnnGetVersion"), FunctionDescriptor.of(JAVA_LONG));
        try {
            version = (long) gv.invokeExact();
        } catch (Throwable t) {
            throw new CudaException("cudnnGetVersion failed: " + t, t);
        }
        if (version < MIN_VERSION) {
            throw new CudaException("cuDNN " + versionString(version) + " is too old: the fused attention graph needs cuDNN 9 "
                    + "(install cuDNN 9, e.g. pip install nvidia-cudnn-cu13, or point STARATTN_CUDNN at libcudnn.so.9)");
        }
        getErrorString = CudaDriver.LINKER.downcallHandle(find(lib, "cudnnGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        Optional<MemorySegment> last = lib.find("cudnnGetLastErrorString");
        getLastErrorString = last.map(s -> CudaDriver.LINKER.downcallHandle(s, FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG))).orElse(null);
        create = h(lib, "cudnnCreate", ADDRESS);
        destroy = h(lib, "cudnnDestroy", ADDRESS);
        setStream = h(lib, "cudnnSetStream", ADDRESS, ADDRESS);
        createDesc = h(lib, "cudnnBackendCreateDescriptor", JAVA_INT, ADDRESS);
        destroyDesc = h(lib, "cudnnBackendDestroyDescriptor", ADDRESS);
        finalizeDesc = h(lib, "cudnnBackendFinalize", ADDRESS);
        setAttr = h(lib, "cudnnBackendSetAttribute", ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS);
        getAttr = h(lib, "cudnnBackendGetAttribute", ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
        execute = h(lib, "cudnnBackendExecute", ADDRESS, ADDRESS, ADDRESS);
    }

    /** The library, loaded once; a {@link CudaException} says why it cannot be used (absent, too old). */
    static Cudnn get() {
        Cudnn c = instance;
        if (c != null) return c;
        synchronized (Cudnn.class) {
            if (instance != null) return instance;
            if (failure != null) throw failure;
            try {
                instance = new Cudnn(NativeLibs.libcudnn(Arena.global()));
                return instance;
            } catch (CudaException e) {
                failure = e;
                throw e;
            }
        }
    }

    static String versionString(long v) {
        return (v / 10000) + "." + (v / 100 % 100) + "." + (v % 100);
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new CudaException("the cuDNN library found lacks " + name + " (not cuDNN 9?)"));
    }

    private static MethodHandle h(SymbolLookup lib, String name, MemoryLayout... args) {
        return CudaDriver.LINKER.downcallHandle(find(lib, name), FunctionDescriptor.of(JAVA_INT, args));
    }

    /** The status's name and cuDNN's last error message (which says why a graph was refused). */
    String describe(int status) {
        StringBuilder b = new StringBuilder();
        try {
            MemorySegment s = (MemorySegment) getErrorString.invokeExact(status);
            b.append(s.reinterpret(256).getString(0));
        } catch (Throwable t) {
            b.append("status ").append(status);
        }
        if (getLastErrorString != null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(2048);
                getLastErrorString.invokeExact(buf, 2048L);
                String last = buf.getString(0).strip();
                if (!last.isEmpty()) b.append(" (").append(last.replace('\n', ' ')).append(')');
            } catch (Throwable ignored) {
                // no detail
            }
        }
        return b.toString();
    }

    void check(int status, String what) {
        if (status != 0) throw new Status(status, "cuDNN " + what + " failed: " + describe(status));
    }

    private int call(MethodHandle m, Object... args) {
        try {
            return (int) m.invokeWithArguments(args);
        } catch (CudaException e) {
            throw e;
        } catch (Throwable t) {
            throw new CudaException("cuDNN call failed: " + t, t);
        }
    }

    MemorySegment createHandle() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(call(create, p), "cudnnCreate");
            MemorySegment handle = p.get(ADDRESS, 0);
            check(call(setStream, handle, MemorySegment.NULL), "cudnnSetStream");  // the default stream, like our kernels and cuBLAS
            return handle;
        }
    }

    void destroyHandle(MemorySegment handle) {
        call(destroy, handle);
    }

    MemorySegment create(int type) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(call(createDesc, type, p), "cudnnBackendCreateDescriptor(" + type + ")");
            return p.get(ADDRESS, 0);
        }
    }

    void destroy(MemorySegment desc) {
        if (desc != null && !desc.equals(MemorySegment.NULL)) call(destroyDesc, desc);
    }

    void finalize(MemorySegment desc, String what) {
        check(call(finalizeDesc, desc), "finalize of " + what);
    }

    /** Sets an attribute to {@code count} elements of {@code type} held in {@code values}. */
    void set(MemorySegment desc, int attr, int type, long count, MemorySegment values) {
        check(call(setAttr, desc, attr, type, count, values), "setting attribute " + attr);
    }

    void setLongs(MemorySegment desc, int attr, long... v) {
        try (Arena a = Arena.ofConfined()) {
            set(desc, attr, TYPE_INT64, v.length, a.allocateFrom(JAVA_LONG, v));
        }
    }

    /** An attribute whose C type is an enum (data type, pointwise mode, heuristics mode, reduction operator): 32 bits. */
    void setEnum(MemorySegment desc, int attr, int type, int value) {
        try (Arena a = Arena.ofConfined()) {
            set(desc, attr, type, 1, a.allocateFrom(JAVA_INT, value));
        }
    }

    void setBool(MemorySegment desc, int attr, boolean value) {
        try (Arena a = Arena.ofConfined()) {
            set(desc, attr, TYPE_BOOLEAN, 1, a.allocateFrom(JAVA_BYTE, (byte) (value ? 1 : 0)));
        }
    }

    void setDescs(MemorySegment desc, int attr, MemorySegment... ds) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocate(ADDRESS, ds.length);
            for (int i = 0; i < ds.length; i++) arr.setAtIndex(ADDRESS, i, ds[i]);
            set(desc, attr, TYPE_BACKEND_DESCRIPTOR, ds.length, arr);
        }
    }

    void setHandle(MemorySegment desc, int attr, MemorySegment handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = a.allocate(ADDRESS);
            arr.set(ADDRESS, 0, handle);
            set(desc, attr, TYPE_HANDLE, 1, arr);
        }
    }

    long getLong(MemorySegment desc, int attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_LONG), v = a.allocate(JAVA_LONG);
            check(call(getAttr, desc, attr, TYPE_INT64, 1L, n, v), "reading attribute " + attr);
            return v.get(JAVA_LONG, 0);
        }
    }

    /** How many descriptors an array attribute holds (heuristics results). */
    long count(MemorySegment desc, int attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_LONG);
            check(call(getAttr, desc, attr, TYPE_BACKEND_DESCRIPTOR, 0L, n, MemorySegment.NULL), "counting attribute " + attr);
            return n.get(JAVA_LONG, 0);
        }
    }

    /** Fills the descriptors {@code into} (created by the caller, of the attribute's type); returns how many were written. */
    long getDescs(MemorySegment desc, int attr, MemorySegment... into) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_LONG), arr = a.allocate(ADDRESS, Math.max(1, into.length));
            for (int i = 0; i < into.length; i++) arr.setAtIndex(ADDRESS, i, into[i]);
            check(call(getAttr, desc, attr, TYPE_BACKEND_DESCRIPTOR, (long) into.length, n, arr), "reading attribute " + attr);
            return n.get(JAVA_LONG, 0);
        }
    }

    /**
     * A finalized variant pack: device (or, for by-value tensors, host) pointers by unique id, and the workspace.
     * The host memory of by-value tensors must outlive every execution with it.
     */
    MemorySegment variantPack(long[] uids, MemorySegment[] ptrs, long workspace) {
        MemorySegment pack = create(VARIANT_PACK_DESCRIPTOR);
        try (Arena a = Arena.ofConfined()) {
            set(pack, ATTR_VARIANT_PACK_UNIQUE_IDS, TYPE_INT64, uids.length, a.allocateFrom(JAVA_LONG, uids));
            MemorySegment arr = a.allocate(ADDRESS, ptrs.length);
            for (int i = 0; i < ptrs.length; i++) arr.setAtIndex(ADDRESS, i, ptrs[i]);
            set(pack, ATTR_VARIANT_PACK_DATA_POINTERS, TYPE_VOID_PTR, ptrs.length, arr);
            MemorySegment ws = a.allocate(ADDRESS);
            ws.set(ADDRESS, 0, MemorySegment.ofAddress(workspace));
            set(pack, ATTR_VARIANT_PACK_WORKSPACE, TYPE_VOID_PTR, 1, ws);
            finalize(pack, "variant pack");
            return pack;
        } catch (RuntimeException e) {
            destroy(pack);
            throw e;
        }
    }

    /** Runs a plan with a variant pack (asynchronously, on the handle's stream). */
    void execute(MemorySegment handle, MemorySegment plan, MemorySegment pack) {
        int status;
        try {
            status = (int) execute.invokeExact(handle, plan, pack);
        } catch (Throwable t) {
            throw new CudaException("cudnnBackendExecute failed: " + t, t);
        }
        check(status, "cudnnBackendExecute");
    }

    static MemorySegment floatValue(Arena a, float v) {
        return a.allocateFrom(JAVA_FLOAT, v);
    }

    static MemorySegment intValue(Arena a, int v) {
        return a.allocateFrom(JAVA_INT, v);
    }
}
