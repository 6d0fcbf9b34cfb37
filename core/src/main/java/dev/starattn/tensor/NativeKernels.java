package dev.starattn.tensor;

import java.lang.foreign.SymbolLookup;

/**
 * Our C kernels library ({@code core/src/main/c}, built by Maven when gcc is present) for kernels
 * outside this package: its symbols, or null when this build or machine has none.
 */
public final class NativeKernels {
    private NativeKernels() {}

    /** The library's symbols, or null (then {@code why[0]} says why). */
    public static SymbolLookup library(String[] why) {
        return NativeQ8.library(why);
    }

    /** 2: AVX-512 (F, BW), 1: AVX2, 0: portable C; -1 when the library does not load. */
    public static int level() {
        String[] why = new String[1];
        SymbolLookup l = library(why);
        if (l == null) return -1;
        try {
            return (int) java.lang.foreign.Linker.nativeLinker().downcallHandle(l.find("starattn_q8_level").orElseThrow(),
                    java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT)).invokeExact();
        } catch (Throwable t) {
            return -1;
        }
    }
}
