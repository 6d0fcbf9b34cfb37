package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.toStatus;

import dev.starattn.cluster.proto.BlockDone;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.cluster.proto.EncodeProgress;
import dev.starattn.engine.BlockTask;
import dev.starattn.engine.HostStats;
import dev.starattn.model.LoadedModel;
import io.grpc.Context;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.Consumer;

/**
 * Star phase 1 on this host: encodes a new session's blocks, reporting each block done, then
 * publishes the session and logs the host's memory against what it should be ({@link HostMemory}); on failure
 * (the client cancelled included) the session is dropped. Each block's working set is collected once it is done.
 */
final class StarEncoder {
    private final LoadedModel model;
    private final SessionStore sessions;
    private final HostMemory memory;
    private final HostHooks hooks;
    private final Consumer<String> log;

    StarEncoder(LoadedModel model, SessionStore sessions, HostMemory memory, HostHooks hooks, Consumer<String> log) {
        this.model = model;
        this.sessions = sessions;
        this.memory = memory;
        this.hooks = hooks;
        this.log = log;
    }

    /** Encodes {@code blocks} into {@code s} (fresh from {@link SessionStore#open}) and answers the call. */
    void encode(Session s, List<BlockTask> blocks, StreamObserver<EncodeProgress> obs) {
        try {
            encodeInto(s, blocks, obs);
        } catch (Throwable t) {
            sessions.discard(s);
            log.accept("session " + s.id + ": phase 1 failed: " + toStatus(t).getDescription());
            obs.onError(toStatus(t).asRuntimeException());
        }
    }

    private void encodeInto(Session s, List<BlockTask> blocks, StreamObserver<EncodeProgress> obs) {
        Context ctx = Context.current();
        log.accept("session " + s.id + ": encoding " + blocks.size() + " block(s)");
        long workingSet = HostMemory.blockWorkingSet(model, blocks, sessions.kvBytesPerToken(s.kvTypeK, s.kvTypeV), s.host.prefillChunk());
        long[] cacheHits = {s.host.stats().cacheHits};
        s.host.encode(dev.starattn.engine.EncodeTask.of(blocks), (host, done, total, tokens) -> {
            hooks.encode.accept(done);
            // A computed block's [anchor; block] KV is garbage now; a block taken from the block cache left none
            // (and is served in milliseconds, less than a collection takes).
            if (s.host.stats().cacheHits == cacheHits[0]) HostMemory.reclaim(workingSet);
            cacheHits[0] = s.host.stats().cacheHits;
            if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
            obs.onNext(EncodeProgress.newBuilder()
                    .setBlockDone(BlockDone.newBuilder().setDone(done).setTotal(total).setTokens(tokens)).build());
        });
        // Cancelled after the last block: the client has given up, so the session is not published (encode's
        // failure path frees it) rather than kept until its time to live.
        if (ctx.isCancelled()) throw new CancellationException("the client cancelled phase 1 or its deadline passed");
        HostStats st = s.host.stats();
        EncodeDone done = s.encodedStats()
                .setCacheHits(st.cacheHits)
                .setCacheMisses(st.cacheMisses)
                .build();
        sessions.publish(s, done);
        log.accept("session " + s.id + ": " + memory.line(sessions.kvBytes(), workingSet));
        obs.onNext(EncodeProgress.newBuilder().setDone(done).build());
        obs.onCompleted();
    }
}
