package dev.starattn.engine;

import dev.starattn.attention.KvType;
import dev.starattn.attention.Partial;
import java.util.List;

/**
 * A context host: holds the KV of its share of the context, encodes it in phase 1 and serves
 * attention partials in phase 2. In-process ({@link LocalContextHost}) today; the cluster module
 * adds hosts reached over the network behind the same interface.
 */
public interface ContextHost {
    String name();

    HostStats stats();

    /**
     * The element types the KV encoded from now on is stored in (the engine's
     * {@code --kv-type-k}/{@code --kv-type-v}). In-process hosts are built with their types; a
     * remote host is told them before each phase 1, and its host stores its session's KV so.
     */
    default void useKvTypes(KvType keys, KvType values) {}

    /**
     * Phase 1: encodes {@code task} into this host's KV ({@link EncodeTask}: segments after their prefixes, or a
     * ring share whose KV blocks this host exchanges with the other members itself). The strategy decides what
     * each host gets ({@code dev.starattn.engine.strategy}); hosts only carry it out. A host that cannot take part
     * in a ring on its own (in-process hosts, whose ring the strategy drives) throws
     * {@link UnsupportedOperationException} for a ring task.
     */
    void encode(EncodeTask task, ProgressListener progress);

    /** Phase 2: attention of the query rows (RoPE applied) over this host's KV of {@code layer}. */
    Partial attend(int layer, float[] q, int rows, int[] qPos);

    /**
     * Phase 2, in two steps: starts {@link #attend} and returns what waits for its answer, so that
     * the query host can ask every host before it waits for any. In-process hosts compute at once;
     * a host in another process sends its request and returns.
     */
    default PendingPartial startAttend(int layer, float[] q, int rows, int[] qPos) {
        Partial p = attend(layer, q, rows, qPos);
        return () -> p;
    }

    /** A phase-2 partial on its way ({@link #startAttend}). */
    interface PendingPartial {
        /** Waits for the partial; throws as {@link #attend} would. */
        Partial await();

        /** Gives up on the partial (another host failed): a call in flight is cancelled. */
        default void cancel() {}
    }

    /** Phase-2 bytes of {@code values} query values sent to this host (f32 unless its wire format differs). */
    default long queryWireBytes(long values) {
        return values * Float.BYTES;
    }

    /** Phase-2 bytes of a partial this host sends back (f32 unless its wire format differs). */
    default long partialWireBytes(Partial p) {
        return p.wireBytes();
    }

    /** Tokens whose KV this host holds (per layer). */
    int kvTokens();

    /**
     * The lowest and highest position id of the keys this host holds, or null when it cannot tell: phase 2
     * does not ask a host whose keys all lie outside a sliding-window layer's window of every query row
     * (a host that cannot tell is always asked; its answer is exact either way).
     */
    default int[] keyPositionRange() {
        return null;
    }

    /** Bytes of KV this host holds over all layers. */
    long kvBytes();

    /** Forgets all KV. */
    void clear();

    /**
     * The phase 1 this host took part in failed on another host: the request is dropped, so whatever it made
     * here for that request alone goes (a remote host's fresh session, freed on the host without waiting).
     * In-process hosts keep their KV until the next encode or {@link #clear}, as before.
     */
    default void abandonEncode() {}

    /**
     * Phase 1 failed on another host: this host's phase 1, running or about to start, stops at its
     * next step (a block, a layer of a prefill chunk, a remote call) and throws. The engine calls it
     * only between {@link #resetCancel} and the end of this host's phase 1 of the same request.
     */
    default void cancelEncode(String why) {}

    /** Before a phase 1: forgets a {@link #cancelEncode} that came after the previous phase 1 had ended. */
    default void resetCancel() {}

    /** True for hosts in another process: their calls are issued concurrently. */
    default boolean isRemote() {
        return false;
    }

    /**
     * The processor an in-process host computes on: in-process hosts of one processor take turns
     * (they would only compete for it), hosts of different processors (this machine's CPUs, each
     * GPU) work at the same time.
     */
    default String processor() {
        return "cpu";
    }
}
