package dev.starattn.attention;

import static dev.starattn.attention.PrefillTile.tile;
import static dev.starattn.attention.SoftmaxExp2.LN2;
import static dev.starattn.attention.SoftmaxExp2.LOG2E;
import static dev.starattn.attention.TransposedKeyTiles.releaseTransposeBuffer;
import static dev.starattn.attention.TransposedKeyTiles.transposedTiles;

import dev.starattn.attention.PrefillTile.Scratch;
import dev.starattn.cpu.Parallel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Flash-style tiled attention on the CPU: queries at arbitrary position ids against a
 * {@link KvCache} at arbitrary position ids, causal by position (a key is visible to a query iff
 * {@code keyPos <= queryPos}), grouped-query heads, returning the output and the log-sum-exp per
 * query row and head (a {@link Partial}) so that results over disjoint key sets merge exactly.
 *
 * <p>Per (head, tile of {@value #BQ} query rows) the key tiles of {@value #BK} keys are streamed
 * with the online softmax (FlashAttention, Dao et al. 2022): running max {@code m}, running sum
 * {@code l}, unnormalised accumulator. A key tile is transposed once so that scores of 16 keys
 * come out of one vector FMA per head dimension, with no horizontal reductions; tiles wholly in
 * the causal future of a query tile are skipped. Few query rows against many keys (decode, star
 * phase 2) split the keys into chunks processed in parallel and merged by {@link LseMerge}.
 *
 * <p>The engine reaches it as {@link AttentionBackends#CPU}, the CPU {@link AttentionBackend}.
 */
public final class AttentionKernel {
    private AttentionKernel() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    static final int BQ = 64;
    /** Keys per tile: four vectors, so that a score row is four registers. */
    static final int BK = 4 * L;

    /** Below this many keys per chunk, splitting the KV for decode is not worth it. */
    private static final int SPLIT_KV_MIN_CHUNK = 1024;

    /**
     * Attention of {@code rows} query rows (row r at {@code q[r * heads * headDim ..]}, position
     * {@code qPos[r]}) over every key of {@code kv}.
     */
    public static Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv) {
        return attend(q, rows, qPos, heads, kv, 0, kv.size());
    }

    /** As {@link #attend(float[], int, int[], int, KvCache)} over keys [k0, k1) of {@code kv} only. */
    public static Partial attend(float[] q, int rows, int[] qPos, int heads, KvCache kv, int k0, int k1) {
        int hd = kv.headDim();
        if (heads % kv.kvHeads() != 0) {
            throw new IllegalArgumentException(heads + " query heads do not group over " + kv.kvHeads() + " kv heads");
        }
        Partial result = Partial.empty(rows, heads, hd);
        if (rows == 0 || k1 <= k0) return result;
        // Scores in base 2: the softmax takes 2^(s - max), the LSE converts back (ln 2).
        float scale = (float) (LOG2E / Math.sqrt(hd));
        int qTiles = (rows + BQ - 1) / BQ;
        int keys = k1 - k0;
        int chunks = 1;
        if (qTiles * heads < 2 * Parallel.threads() && keys >= 2 * SPLIT_KV_MIN_CHUNK) {
            chunks = Math.min(Math.max(1, keys / SPLIT_KV_MIN_CHUNK), Math.max(2, 2 * Parallel.threads()));
        }
        LongAdder pairs = new LongAdder();
        if (rows < 4) return DecodeAttention.decode(q, rows, qPos, heads, kv, k0, k1, scale, pairs);
        float[] kT = transposedTiles(kv, k0, k1);
        int kTTiles = (k1 - k0 + BK - 1) / BK;
        if (chunks == 1 && NativeAttention.usable(hd, kv.valueType())) {
            Object values = kv.valuesRaw();
            boolean f16 = kv.valueType() == KvType.F16;
            int group = heads / kv.kvHeads(), qStride = heads * hd;
            int[] kPos = kv.positions();
            float[] out = result.out(), lse = result.lse();
            Parallel.forRange(heads * qTiles, 1, (from, to) -> {
                float[] ml = Scratch.get(hd).ml;
                long n = 0;
                for (int item = from; item < to; item++) {
                    int h = item % heads, t = item / heads, kvh = h / group;
                    int r0 = t * BQ, nq = Math.min(rows, r0 + BQ) - r0;
                    n += NativeAttention.tile(q, qStride, h * hd, qPos, r0, nq, kPos, k0, k1, kT, (long) kvh * kTTiles * hd * BK,
                            values, f16, kv.rowSize(), kvh * hd, hd, scale, out, ml);
                    for (int i = 0; i < nq; i++) {
                        float l = ml[nq + i];
                        lse[(r0 + i) * heads + h] = l == 0f ? Float.NEGATIVE_INFINITY : (float) (ml[i] * LN2 + Math.log(l));
                    }
                }
                pairs.add(n);
            });
            releaseTransposeBuffer(kT);
            return result.withPairs(pairs.sum());
        }
        if (chunks == 1) {
            Parallel.forRange(heads * qTiles, 1, (from, to) -> {
                Scratch s = Scratch.get(hd);
                long n = 0;
                for (int item = from; item < to; item++) {
                    int h = item % heads, t = item / heads;
                    n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, k0, k1, kT, k0, kTTiles, scale,
                            result.out(), result.lse(), s);
                }
                pairs.add(n);
            });
            releaseTransposeBuffer(kT);
            return result.withPairs(pairs.sum());
        }
        // Split-KV: each chunk of keys yields a partial; merge them exactly.
        List<Partial> parts = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) parts.add(Partial.empty(rows, heads, hd));
        final int nChunks = chunks;
        Parallel.forRange(heads * qTiles * chunks, 1, (from, to) -> {
            Scratch s = Scratch.get(hd);
            long n = 0;
            for (int item = from; item < to; item++) {
                int c = item % nChunks, rest = item / nChunks;
                int h = rest % heads, t = rest / heads;
                int ks = k0 + (int) ((long) keys * c / nChunks), ke = k0 + (int) ((long) keys * (c + 1) / nChunks);
                Partial p = parts.get(c);
                n += tile(q, qPos, heads, hd, h, t * BQ, Math.min(rows, t * BQ + BQ), kv, ks, ke, kT, k0, kTTiles, scale, p.out(), p.lse(), s);
            }
            pairs.add(n);
        });
        releaseTransposeBuffer(kT);
        return LseMerge.merge(parts).withPairs(pairs.sum());
    }

    /** FLOPs of attention for {@code pairs} visible (query, key) pairs per head: QK^T and PV. */
    public static long flops(long pairs, int heads, int headDim) {
        return 4L * pairs * heads * headDim;
    }

}
