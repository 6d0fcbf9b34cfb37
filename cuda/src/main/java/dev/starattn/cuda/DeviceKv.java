package dev.starattn.cuda;

import dev.starattn.attention.KvSizes;
import java.util.Arrays;

/**
 * Keys and values of one layer on the GPU, token-major ({@code [t][kvHead][headDim]}), bf16 (what the
 * engine uses: half the memory, and the tensor-core attention kernel reads it) or f32 (exact checks
 * against the CPU), with each row's position id (on the device for the kernels' causal mask, mirrored
 * on the host for bookkeeping). Grows by doubling.
 */
public final class DeviceKv implements AutoCloseable {
    final CudaDevice dev;
    final int kvHeads, headDim, rowSize;
    final boolean bf16;
    final int elemBytes;
    long k, v, pos;
    int capacity, size;
    int[] hostPos;

    /** An f32 cache. */
    public DeviceKv(CudaDevice dev, int kvHeads, int headDim, int capacity) {
        this(dev, kvHeads, headDim, capacity, false);
    }

    public DeviceKv(CudaDevice dev, int kvHeads, int headDim, int capacity, boolean bf16) {
        this.dev = dev;
        this.bf16 = bf16;
        this.elemBytes = bf16 ? 2 : 4;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rowSize = kvHeads * headDim;
        this.capacity = Math.max(1, capacity);
        long[] kvp = allocRows(this.capacity);
        this.k = kvp[0];
        this.v = kvp[1];
        this.pos = kvp[2];
        this.hostPos = new int[this.capacity];
    }

    /** Bytes of K and V (positions not counted) for {@code rows} rows of this cache's shape: 64-bit ({@link KvSizes}). */
    long kvBytesFor(long rows) {
        return 2 * KvSizes.bytes(rows, rowSize, elemBytes);
    }

    /**
     * K, V and position buffers for {@code rows} rows, or a {@link CudaException} that names the memory needed and
     * what for (nothing stays allocated).
     */
    private long[] allocRows(int rows) {
        long kb = KvSizes.bytes(rows, rowSize, elemBytes);
        long nk = 0, nv = 0;
        try {
            nk = dev.alloc(kb);
            nv = dev.alloc(kb);
            return new long[] {nk, nv, dev.alloc(4L * rows)};
        } catch (CudaException e) {
            dev.free(nk);
            dev.free(nv);
            throw new CudaException(String.format("the KV cache of one layer for %d tokens (%d kv heads x %d dims, %s) needs %s for K and V: %s",
                    rows, kvHeads, headDim, bf16 ? "bf16" : "f32", KvSizes.gib(2 * kb + 4L * rows), e.getMessage()), e);
        }
    }

    public int size() {
        return size;
    }

    public long bytes() {
        return kvBytesFor(size);
    }

    /** Caches at least this long grow by an eighth, not by doubling: a host's share of a million tokens is 128K rows a layer. */
    static final int LARGE_ROWS = 1 << 16;

    /**
     * Room for {@code rows} rows, 64-bit sizes: doubling while small (amortized appends), by an eighth from
     * {@link #LARGE_ROWS} rows on, so that the query's few rows after a host's exactly sized share ({@link #reserve}) do not
     * double it (at a million tokens over 8 hosts, 4 GiB over 16 layers).
     */
    void ensure(int rows) {
        if (rows <= capacity) return;
        resize(capacity < LARGE_ROWS ? KvSizes.grownCapacity(capacity, rows, 2, 1, KvSizes.MAX_ARRAY)
                : KvSizes.grownCapacity(capacity, rows, 9, 8, KvSizes.MAX_ARRAY));
    }

    /**
     * Room for exactly {@code rows} rows when it has less: a host that knows its share of the context sizes its
     * caches once, instead of doubling past it (at a million tokens a doubling can cost gigabytes a layer).
     */
    void reserve(int rows) {
        if (rows > capacity) resize(rows);
    }

    private void resize(int cap) {
        long[] n = allocRows(cap);
        long nk = n[0], nv = n[1], np = n[2];
        dev.copyDtoD(nk, k, KvSizes.bytes(size, rowSize, elemBytes));
        dev.copyDtoD(nv, v, KvSizes.bytes(size, rowSize, elemBytes));
        dev.copyDtoD(np, pos, 4L * size);
        dev.free(k);
        dev.free(v);
        dev.free(pos);
        k = nk;
        v = nv;
        pos = np;
        hostPos = Arrays.copyOf(hostPos, cap);
        capacity = cap;
    }

    /** Appends n rows from device buffers (k, v: n rows; positions: device ints) with host positions p[off..]. */
    void appendDevice(long kSrc, long vSrc, long posSrc, int n, int[] p, int off) {
        ensure(size + n);
        launchAppend(kSrc, vSrc, posSrc, n, 0);
        recordAppend(n, p, off);
    }

    /**
     * The device half of {@link #appendDevice}: the copy kernel, writing at row {@link #size} or, when {@code dynAt} is a
     * device int, at the row it holds when the kernel runs (a decode step captured into a CUDA graph; the caller has
     * made room with {@link #ensure} and books the rows with {@link #recordAppend}).
     */
    void launchAppend(long kSrc, long vSrc, long posSrc, int n, long dynAt) {
        dev.launch(bf16 ? "kv_append_bf16" : "kv_append", dev.gridFor((long) n * rowSize, 256), 1, 1, 256, 0, k, v, pos, kSrc, vSrc, posSrc, n,
                rowSize, size, dynAt);
    }

    /** The host half of {@link #appendDevice}: n rows with positions p[off..] are now in the cache. */
    void recordAppend(int n, int[] p, int off) {
        if (size + n > capacity) throw new IllegalStateException("KV rows past the capacity: ensure first");
        System.arraycopy(p, off, hostPos, size, n);
        size += n;
    }

    /** Appends host rows (tests, and hosts fed from the CPU). */
    public void append(float[] kh, float[] vh, int n, int[] p, int off) {
        ensure(size + n);
        if (bf16) {
            dev.copyIn(k + 2L * size * rowSize, Bf16.fromFloats(kh, n * rowSize), 0, n * rowSize);
            dev.copyIn(v + 2L * size * rowSize, Bf16.fromFloats(vh, n * rowSize), 0, n * rowSize);
        } else {
            dev.copyIn(k + 4L * size * rowSize, kh, 0, n * rowSize);
            dev.copyIn(v + 4L * size * rowSize, vh, 0, n * rowSize);
        }
        dev.copyIn(pos + 4L * size, p, off, n);
        System.arraycopy(p, off, hostPos, size, n);
        size += n;
    }

    /** Appends rows [from, from + n) of another cache (device to device). */
    void appendRange(DeviceKv o, int from, int n) {
        if (o.bf16 != bf16) throw new IllegalArgumentException("KV caches of different element types");
        ensure(size + n);
        long e = elemBytes;
        dev.copyDtoD(k + e * size * rowSize, o.k + e * from * rowSize, e * n * rowSize);
        dev.copyDtoD(v + e * size * rowSize, o.v + e * from * rowSize, e * n * rowSize);
        dev.copyDtoD(pos + 4L * size, o.pos + 4L * from, 4L * n);
        System.arraycopy(o.hostPos, from, hostPos, size, n);
        size += n;
    }

    /**
     * Appends all of {@code src}'s rows, {@code src} on this GPU or another one ({@link CudaDevice#copyPeer}); ordered as
     * {@link #copyOf} is. Star-pass's gather of the earlier hosts' passing rows ({@link CudaPass}).
     */
    void appendAll(DeviceKv src) {
        if (src.bf16 != bf16 || src.rowSize != rowSize) throw new IllegalArgumentException("KV caches of different shapes or element types");
        ensure(size + src.size);
        long e = elemBytes;
        CudaDevice.copyPeer(dev, k + e * size * rowSize, src.dev, src.k, e * src.size * rowSize);
        CudaDevice.copyPeer(dev, v + e * size * rowSize, src.dev, src.v, e * src.size * rowSize);
        CudaDevice.copyPeer(dev, pos + 4L * size, src.dev, src.pos, 4L * src.size);
        System.arraycopy(src.hostPos, 0, hostPos, size, src.size);
        size += src.size;
    }

    /**
     * Makes this cache a copy of all of {@code src}'s rows (K, V and positions), {@code src} on this GPU or
     * another one ({@link CudaDevice#copyPeer}: device to device, or a peer copy between GPUs). Ring phase 1's
     * staging of another GPU's KV block ({@link CudaRing}). The copies are queued after the work already queued
     * on both GPUs; callers that do not rely on that synchronize the source GPU first.
     */
    void copyOf(DeviceKv src) {
        if (src.bf16 != bf16 || src.rowSize != rowSize) throw new IllegalArgumentException("KV caches of different shapes or element types");
        truncate(0);
        ensure(src.size);
        long e = elemBytes;
        CudaDevice.copyPeer(dev, k, src.dev, src.k, e * src.size * rowSize);
        CudaDevice.copyPeer(dev, v, src.dev, src.v, e * src.size * rowSize);
        CudaDevice.copyPeer(dev, pos, src.dev, src.pos, 4L * src.size);
        System.arraycopy(src.hostPos, 0, hostPos, 0, src.size);
        size = src.size;
    }

    /** The keys as f32 on the host (checks against the CPU). */
    public float[] keysToHost() {
        return toHost(k);
    }

    /** The values as f32 on the host (checks against the CPU). */
    public float[] valuesToHost() {
        return toHost(v);
    }

    private float[] toHost(long p) {
        int n = KvSizes.arrayLength(size, rowSize, "a GPU KV cache layer copied to the host");
        if (!bf16) return dev.download(p, n);
        short[] h = new short[n];
        dev.copyOut(p, h, 0, n);
        return Bf16.toFloats(h);
    }

    /** The rows' position ids (the host mirror), in row order. */
    public int[] positions() {
        return Arrays.copyOf(hostPos, size);
    }

    public void truncate(int n) {
        size = Math.min(size, Math.max(0, n));
        ascChecked = 0;
        ascending = true;
    }

    private int ascChecked;
    private boolean ascending = true;

    /**
     * Whether the positions of rows [0, size) strictly ascend (every cache that dense prefill and star phase
     * 1 build): then "key position <= query position" is "key index <= query index" for queries that are
     * the cache's last rows, the index-causal mask a fused attention library applies. Checked on the host
     * mirror, incrementally.
     */
    boolean positionsAscending() {
        if (ascChecked > size) {
            ascChecked = 0;
            ascending = true;
        }
        ascending = ascending && strictlyAscending(hostPos, Math.max(0, ascChecked - 1), size);
        ascChecked = size;
        return ascending;
    }

    /** Whether p[from .. to) strictly ascends. */
    static boolean strictlyAscending(int[] p, int from, int to) {
        for (int i = from + 1; i < to; i++) if (p[i - 1] >= p[i]) return false;
        return true;
    }

    /** Visible (query, key) pairs for one head: keys with position <= the query's. */
    long visiblePairs(int[] qPos, int k0, int k1) {
        return visiblePairs(hostPos, k0, k1, qPos);
    }

    /**
     * Pairs (query, key in [k0, k1)) with key position <= query position. Binary search when the key
     * positions ascend (every cache a star or dense prefill builds): the pair count is bookkeeping
     * beside GPU work and must not cost O(queries x keys) on the CPU (a 64K prefill would spend
     * seconds there).
     */
    static long visiblePairs(int[] keyPos, int k0, int k1, int[] qPos) {
        boolean ascending = true;
        for (int i = k0 + 1; i < k1 && ascending; i++) ascending = keyPos[i - 1] <= keyPos[i];
        long n = 0;
        if (ascending) {
            for (int qp : qPos) {
                int lo = k0, hi = k1;  // first index whose position is > qp
                while (lo < hi) {
                    int mid = (lo + hi) >>> 1;
                    if (keyPos[mid] <= qp) lo = mid + 1;
                    else hi = mid;
                }
                n += lo - k0;
            }
            return n;
        }
        for (int qp : qPos) for (int i = k0; i < k1; i++) if (keyPos[i] <= qp) n++;
        return n;
    }

    @Override
    public void close() {
        dev.free(k);
        dev.free(v);
        dev.free(pos);
        k = v = pos = 0;
        size = capacity = 0;
    }
}
