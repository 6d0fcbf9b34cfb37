package dev.starattn.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * Test-only builders of random GGML-layout weight bytes and a plain double-precision reference
 * dequantizer written straight from the block layouts (no vectors, no tricks).
 */
final class KernelTestBlocks {
    private KernelTestBlocks() {}

    /** Random valid bytes for a rows x cols matrix of {@code type}. */
    static byte[] randomMatrix(GgmlType type, int rows, int cols, Random rnd) {
        int n = rows * cols;
        ByteBuffer bb = ByteBuffer.allocate((int) type.byteSize(n)).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> { for (int i = 0; i < n; i++) bb.putFloat((float) rnd.nextGaussian()); }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    // mostly normal values, some subnormals and zeros to test the conversion edge cases
                    float v = switch (rnd.nextInt(20)) {
                        case 0 -> (float) (rnd.nextGaussian() * 3e-6);
                        case 1 -> rnd.nextBoolean() ? 0f : -0f;
                        case 2 -> (float) (rnd.nextGaussian() * 1000);
                        default -> (float) rnd.nextGaussian();
                    };
                    bb.putShort(Float.floatToFloat16(v));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) bb.putShort((short) (Float.floatToRawIntBits((float) rnd.nextGaussian()) >>> 16));
            }
            case Q8_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    bb.putShort(randomScale(rnd));
                    for (int k = 0; k < 32; k++) bb.put((byte) rnd.nextInt(256));
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < n / 32; b++) {
                    bb.putShort(randomScale(rnd));
                    for (int k = 0; k < 16; k++) bb.put((byte) rnd.nextInt(256));
                }
            }
            case Q4_K -> {
                for (int b = 0; b < n / 256; b++) {
                    bb.putShort(randomScale(rnd));
                    bb.putShort(randomScale(rnd));
                    for (int k = 0; k < 12 + 128; k++) bb.put((byte) rnd.nextInt(256));
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n / 256; b++) {
                    for (int k = 0; k < 128 + 64 + 16; k++) bb.put((byte) rnd.nextInt(256));
                    bb.putShort(randomScale(rnd));
                }
            }
        }
        return bb.array();
    }

    private static short randomScale(Random rnd) {
        return Float.floatToFloat16((float) ((rnd.nextDouble() - 0.3) * 0.02));
    }

    static double h(byte[] a, int off) {
        return Float.float16ToFloat((short) ((a[off] & 0xFF) | (a[off + 1] << 8)));
    }

    static int u(byte[] a, int off) {
        return a[off] & 0xFF;
    }

    /** Reference dequantization of one row to doubles. */
    static double[] refRow(GgmlType type, byte[] a, int row, int cols) {
        double[] y = new double[cols];
        int base = (int) type.byteSize((long) row * cols);
        switch (type) {
            case F32 -> {
                for (int c = 0; c < cols; c++) {
                    int o = base + 4 * c;
                    y[c] = Float.intBitsToFloat((a[o] & 0xFF) | (a[o + 1] & 0xFF) << 8 | (a[o + 2] & 0xFF) << 16 | (a[o + 3] & 0xFF) << 24);
                }
            }
            case F16 -> { for (int c = 0; c < cols; c++) y[c] = h(a, base + 2 * c); }
            case BF16 -> {
                for (int c = 0; c < cols; c++) {
                    int bits = u(a, base + 2 * c) << 16 | u(a, base + 2 * c + 1) << 24;
                    y[c] = Float.intBitsToFloat(bits);
                }
            }
            case Q8_0 -> {
                for (int b = 0; b < cols / 32; b++) {
                    int o = base + 34 * b;
                    double d = h(a, o);
                    for (int j = 0; j < 32; j++) y[32 * b + j] = d * a[o + 2 + j];
                }
            }
            case Q4_0 -> {
                for (int b = 0; b < cols / 32; b++) {
                    int o = base + 18 * b;
                    double d = h(a, o);
                    for (int j = 0; j < 16; j++) {
                        y[32 * b + j] = d * ((u(a, o + 2 + j) & 0xF) - 8);
                        y[32 * b + j + 16] = d * ((u(a, o + 2 + j) >> 4) - 8);
                    }
                }
            }
            case Q4_K -> {
                for (int b = 0; b < cols / 256; b++) {
                    int o = base + 144 * b;
                    double d = h(a, o), dmin = h(a, o + 2);
                    int sc = o + 4, qs = o + 16;
                    for (int j = 0; j < 8; j++) {
                        int s, m;
                        if (j < 4) {
                            s = u(a, sc + j) & 63;
                            m = u(a, sc + j + 4) & 63;
                        } else {
                            s = (u(a, sc + j + 4) & 0xF) | ((u(a, sc + j - 4) >> 6) << 4);
                            m = (u(a, sc + j + 4) >> 4) | ((u(a, sc + j) >> 6) << 4);
                        }
                        for (int l = 0; l < 32; l++) {
                            int byteIdx = qs + 32 * (j / 2) + l;
                            int q = (j % 2 == 0) ? (u(a, byteIdx) & 0xF) : (u(a, byteIdx) >> 4);
                            y[256 * b + 32 * j + l] = d * s * q - dmin * m;
                        }
                    }
                }
            }
            case Q6_K -> {
                for (int b = 0; b < cols / 256; b++) {
                    int o = base + 210 * b;
                    double d = h(a, o + 208);
                    for (int half = 0; half < 2; half++) {
                        int ql = o + 64 * half, qh = o + 128 + 32 * half, sc = o + 192 + 8 * half;
                        int yo = 256 * b + 128 * half;
                        for (int l = 0; l < 32; l++) {
                            int is = l / 16;
                            int q1 = ((u(a, ql + l) & 0xF) | ((u(a, qh + l) & 3) << 4)) - 32;
                            int q2 = ((u(a, ql + l + 32) & 0xF) | (((u(a, qh + l) >> 2) & 3) << 4)) - 32;
                            int q3 = ((u(a, ql + l) >> 4) | (((u(a, qh + l) >> 4) & 3) << 4)) - 32;
                            int q4 = ((u(a, ql + l + 32) >> 4) | (((u(a, qh + l) >> 6) & 3) << 4)) - 32;
                            y[yo + l] = d * a[sc + is] * q1;
                            y[yo + l + 32] = d * a[sc + is + 2] * q2;
                            y[yo + l + 64] = d * a[sc + is + 4] * q3;
                            y[yo + l + 96] = d * a[sc + is + 6] * q4;
                        }
                    }
                }
            }
        }
        return y;
    }
}
