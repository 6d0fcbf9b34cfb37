package dev.starattn.cluster;

import dev.starattn.attention.KvType;
import dev.starattn.cluster.proto.Block;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.Ring;
import dev.starattn.engine.BlockTask;
import dev.starattn.model.DecoderConfig;
import java.util.ArrayList;
import java.util.List;

/** What a host's requests carry, checked against its model: a bad request fails with an IllegalArgumentException that names the fault. */
final class RequestDecoding {
    private RequestDecoding() {}

    static int[] ints(List<Integer> l) {
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = l.get(i);
        return a;
    }

    /** A KV type asked for on the wire (a KvType id; 0 = f32, what requests without it mean). */
    static KvType kvType(int id, String what) {
        try {
            return KvType.byId(id);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown KV type id " + id + " for the " + what + " (this host knows f32, f16 and q8_0)");
        }
    }

    /** The star blocks of a phase-1 request. */
    static List<BlockTask> blocks(EncodeRequest req, DecoderConfig c) {
        List<BlockTask> out = new ArrayList<>(req.getBlocksCount());
        for (Block b : req.getBlocksList()) {
            int[] t = ints(b.getTokensList()), p = ints(b.getPositionsList());
            int[] at = ints(b.getAnchorTokensList()), ap = ints(b.getAnchorPositionsList());
            if (t.length == 0) throw new IllegalArgumentException("block " + b.getIndex() + " is empty");
            if (t.length != p.length || at.length != ap.length) {
                throw new IllegalArgumentException("block " + b.getIndex() + " has " + t.length + " tokens but " + p.length
                        + " positions (anchor: " + at.length + " and " + ap.length + ")");
            }
            for (int[] toks : new int[][] {t, at}) {
                for (int id : toks) {
                    if (id < 0 || id >= c.vocabSize()) {
                        throw new IllegalArgumentException("block " + b.getIndex() + " holds token id " + id
                                + " outside the model's vocabulary of " + c.vocabSize());
                    }
                }
            }
            for (int[] pos : new int[][] {p, ap}) {
                for (int x : pos) {
                    if (x < 0 || (c.contextLength() > 0 && x >= c.contextLength())) {
                        throw new IllegalArgumentException("block " + b.getIndex() + " holds position " + x
                                + " outside the model's context length of " + c.contextLength());
                    }
                }
            }
            out.add(new BlockTask(b.getIndex(), t, p, at, ap));
        }
        return out;
    }

    /** Checks a ring share ({@code EncodeRequest.ring}) and its tokens at their positions. */
    static void checkRing(Ring req, int[] tokens, int[] positions, DecoderConfig c) {
        int hosts = req.getPeersCount();
        if (hosts < 1 || req.getHostIndex() < 0 || req.getHostIndex() >= hosts) {
            throw new IllegalArgumentException("host index " + req.getHostIndex() + " in a ring of " + hosts + " host(s)");
        }
        if (req.getRingId().isEmpty()) throw new IllegalArgumentException("a ring run needs a ring id");
        if (tokens.length != positions.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + positions.length + " positions");
        }
        for (int id : tokens) {
            if (id < 0 || id >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " lies outside the model's vocabulary of " + c.vocabSize());
            }
        }
        for (int x : positions) {
            if (x < 0 || (c.contextLength() > 0 && x >= c.contextLength())) {
                throw new IllegalArgumentException("position " + x + " lies outside the model's context length of " + c.contextLength());
            }
        }
        if (req.getSpansCount() != 0 && req.getSpansCount() != hosts) {
            throw new IllegalArgumentException("a ring of " + hosts + " host(s) with " + req.getSpansCount() + " key spans");
        }
        // Every host decides from the spans which blocks it waits for and passes on: a span that is not this
        // host's own would leave a neighbour waiting for a block never sent.
        int[][] spans = ringSpans(req);
        if (spans != null) {
            int[] own = spans[req.getHostIndex()];
            int lo = Integer.MAX_VALUE, hi = Integer.MIN_VALUE;
            for (int x : positions) {
                lo = Math.min(lo, x);
                hi = Math.max(hi, x);
            }
            boolean matches = own == null ? positions.length == 0 : positions.length > 0 && own[0] == lo && own[1] == hi;
            if (!matches) throw new IllegalArgumentException("the ring's key span for host " + req.getHostIndex() + " does not match its positions");
        }
    }

    /** Every ring member's key positions {first, last} (null for a member without keys), or null when the client gave none. */
    static int[][] ringSpans(Ring req) {
        if (req.getSpansCount() == 0) return null;
        int[][] spans = new int[req.getSpansCount()][];
        for (int i = 0; i < spans.length; i++) {
            var s = req.getSpans(i);
            spans[i] = s.getFirst() > s.getLast() ? null : new int[] {s.getFirst(), s.getLast()};
        }
        return spans;
    }

    /** A star-pass run's description: this host among its peers, a run id, a rule a host can follow. */
    static void checkStarPass(dev.starattn.cluster.proto.StarPass req) {
        int hosts = req.getPeersCount();
        if (hosts < 1 || req.getHostIndex() < 0 || req.getHostIndex() >= hosts) {
            throw new IllegalArgumentException("host index " + req.getHostIndex() + " in a star-pass run of " + hosts + " host(s)");
        }
        if (req.getRunId().isEmpty()) throw new IllegalArgumentException("a star-pass run needs a run id");
        if (req.getPassTokens() < 0 || req.getWindow() < 1) {
            throw new IllegalArgumentException("a star-pass run passes 0 or more rows chosen by at least one query, not "
                    + req.getPassTokens() + " by " + req.getWindow());
        }
    }
}
