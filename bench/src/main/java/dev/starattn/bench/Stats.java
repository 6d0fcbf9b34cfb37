package dev.starattn.bench;

import java.util.Arrays;

/** Medians: every figure a benchmark prints is the median of its repeats. */
final class Stats {
    private Stats() {}

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    static int parseSize(String s) {
        String t = s.trim().toLowerCase(java.util.Locale.ROOT);
        if (t.endsWith("k")) return Integer.parseInt(t.substring(0, t.length() - 1)) * 1024;
        return Integer.parseInt(t);
    }
}
