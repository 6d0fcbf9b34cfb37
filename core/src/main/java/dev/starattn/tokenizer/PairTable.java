package dev.starattn.tokenizer;

/**
 * Open-addressing hash map from a pair of symbol ids {@code (left, right)} to the merged id and
 * the merge rank (lower rank merges first). Ids must be non-negative.
 */
final class PairTable {
    private long[] keys;
    private long[] vals;
    private int mask;
    private int size;

    PairTable(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        keys = new long[cap];
        vals = new long[cap];
        java.util.Arrays.fill(keys, -1L);
        mask = cap - 1;
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int slot(long k, int mask) {
        long h = k * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Adds a merge; if the pair is already present the lower rank wins. */
    void put(int a, int b, int merged, int rank) {
        if ((size + 1) * 2 > keys.length) {
            grow();
        }
        long k = key(a, b);
        long v = ((long) rank << 32) | (merged & 0xFFFFFFFFL);
        int i = slot(k, mask);
        while (keys[i] != -1L) {
            if (keys[i] == k) {
                if ((vals[i] >>> 32) > rank) {
                    vals[i] = v;
                }
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = k;
        vals[i] = v;
        size++;
    }

    /** {@code (rank << 32) | mergedId}, or -1 when the pair does not merge. */
    long get(int a, int b) {
        if (a < 0 || b < 0) {
            return -1L;
        }
        long k = key(a, b);
        int i = slot(k, mask);
        long kk;
        while ((kk = keys[i]) != -1L) {
            if (kk == k) {
                return vals[i];
            }
            i = (i + 1) & mask;
        }
        return -1L;
    }

    int size() {
        return size;
    }

    private void grow() {
        long[] ok = keys, ov = vals;
        keys = new long[ok.length * 2];
        vals = new long[ok.length * 2];
        java.util.Arrays.fill(keys, -1L);
        mask = keys.length - 1;
        for (int j = 0; j < ok.length; j++) {
            if (ok[j] != -1L) {
                int i = slot(ok[j], mask);
                while (keys[i] != -1L) {
                    i = (i + 1) & mask;
                }
                keys[i] = ok[j];
                vals[i] = ov[j];
            }
        }
    }

    /**
     * Runs BPE over the symbol ids {@code ids[0..n)}: repeatedly merges the adjacent pair with the
     * lowest rank, the leftmost first among equal ranks, using a binary heap (O(n log n)). Returns
     * the final symbols; {@code origin} (if not null, length >= n) receives, for each final
     * symbol, the index of the initial symbol it starts at.
     */
    int[] merge(int[] ids, int n, int[] origin) {
        if (n <= 1) {
            if (origin != null && n == 1) origin[0] = 0;
            return java.util.Arrays.copyOf(ids, n);
        }
        int[] id = java.util.Arrays.copyOf(ids, n);
        int[] next = new int[n];
        int[] prev = new int[n];
        boolean[] dead = new boolean[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            long v = get(id[i], id[i + 1]);
            if (v >= 0) heap.add(((v >>> 32) << 32) | i);
        }
        while (!heap.isEmpty()) {
            long e = heap.poll();
            int i = (int) e;
            long rank = e >>> 32;
            if (dead[i]) continue;
            int j = next[i];
            if (j < 0) continue;
            long v = get(id[i], id[j]);
            if (v < 0 || (v >>> 32) != rank) continue; // stale entry
            id[i] = (int) v;
            dead[j] = true;
            int k = next[j];
            next[i] = k;
            if (k >= 0) prev[k] = i;
            int p = prev[i];
            if (p >= 0) {
                long pv = get(id[p], id[i]);
                if (pv >= 0) heap.add(((pv >>> 32) << 32) | p);
            }
            if (k >= 0) {
                long nv = get(id[i], id[k]);
                if (nv >= 0) heap.add(((nv >>> 32) << 32) | i);
            }
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) count++;
        int[] out = new int[count];
        int c = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            if (origin != null) origin[c] = i;
            out[c++] = id[i];
        }
        return out;
    }

    /** Minimal binary min-heap of longs. */
    static final class LongHeap {
        private long[] a;
        private int n;

        LongHeap(int cap) {
            a = new long[Math.max(4, cap)];
        }

        boolean isEmpty() {
            return n == 0;
        }

        void add(long x) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            int i = n++;
            while (i > 0) {
                int p = (i - 1) >>> 1;
                if (a[p] <= x) break;
                a[i] = a[p];
                i = p;
            }
            a[i] = x;
        }

        long poll() {
            long top = a[0];
            long x = a[--n];
            int i = 0;
            int half = n >>> 1;
            while (i < half) {
                int c = 2 * i + 1;
                if (c + 1 < n && a[c + 1] < a[c]) c++;
                if (x <= a[c]) break;
                a[i] = a[c];
                i = c;
            }
            a[i] = x;
            return top;
        }
    }
}
