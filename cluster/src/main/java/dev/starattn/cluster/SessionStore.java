package dev.starattn.cluster;

import static dev.starattn.cluster.Statuses.error;

import dev.starattn.attention.KvType;
import dev.starattn.cluster.proto.EncodeDone;
import dev.starattn.engine.BlockCache;
import dev.starattn.engine.LocalContextHost;
import dev.starattn.model.DecoderConfig;
import dev.starattn.model.LoadedModel;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A host's sessions, by id: created for phase 1, marked in use by phase 2, freed on request, once
 * unused for their time to live (a client may ask for a shorter one than the host's, never a longer
 * one), or a grace after the phase-2 stream using them broke. An optional memory budget bounds the
 * KV all sessions hold together; a session being encoded counts with the bytes it reserved.
 */
final class SessionStore {
    private final LoadedModel model;
    private final long memoryBudget;
    /** The longest time to live of a session, and what a request that names none gets. */
    private final Duration defaultTtl;
    /** How long a session stays after the phase-2 stream using it broke, unless it is used again. */
    private final long streamGraceNanos;
    private final BlockCache blockCache;
    private final Consumer<String> log;
    private final Map<String, Session> sessions = new LinkedHashMap<>();
    private final AtomicLong encodeCalls = new AtomicLong();

    SessionStore(LoadedModel model, long memoryBudget, Duration defaultTtl, Duration streamGrace, BlockCache blockCache,
                 Consumer<String> log) {
        this.model = model;
        this.memoryBudget = memoryBudget;
        this.defaultTtl = defaultTtl;
        this.streamGraceNanos = streamGrace.toNanos();
        this.blockCache = blockCache;
        this.log = log;
    }

    int size() {
        synchronized (sessions) {
            return sessions.size();
        }
    }

    long kvBytes() {
        synchronized (sessions) {
            long b = 0;
            for (Session s : sessions.values()) b += s.ready ? s.host.kvBytes() : s.reservedBytes;
            return b;
        }
    }

    long memoryBudget() {
        return memoryBudget;
    }

    /** Phase-1 encodes actually computed (reuses of a session not counted). */
    long encodeCalls() {
        return encodeCalls.get();
    }

    /** Bytes of KV one token takes over all layers, keys stored as {@code k} and values as {@code v}. */
    long kvBytesPerToken(KvType k, KvType v) {
        DecoderConfig c = model.config();
        return (long) c.layers() * (k.rowBytes(c.kvDim()) + v.rowBytes(c.kvDim()));
    }

    /**
     * Finds or creates the session for a phase-1 request; null when an existing one is reused (its
     * last use is now). A new one is in flight (not ready) until {@link #publish} or {@link #discard}.
     */
    Session open(String id, String hash, boolean requireExisting, long ttlMs, int prefillChunk, long tokens,
                 KvType kvTypeK, KvType kvTypeV, boolean replaceSame) {
        if (id.isEmpty() || id.length() > 200) throw error(Status.INVALID_ARGUMENT, "a session id must have 1 to 200 characters");
        long need = tokens * kvBytesPerToken(kvTypeK, kvTypeV);
        synchronized (sessions) {
            Session old = sessions.get(id);
            if (old != null) {
                if (!old.ready) throw error(Status.FAILED_PRECONDITION, "session " + id + " is being encoded by another request");
                if (old.kvTypeK != kvTypeK || old.kvTypeV != kvTypeV) {
                    // Never answer a request for one KV type with KV stored in another.
                    throw error(Status.FAILED_PRECONDITION, "session " + id + " holds KV of type " + types(old.kvTypeK, old.kvTypeV)
                            + " but the request asks for " + types(kvTypeK, kvTypeV) + "; release it or choose another session name");
                }
                if (!old.hash.equals(hash)) {
                    throw error(Status.FAILED_PRECONDITION, "session " + id + " holds a different context;"
                            + " release it or choose another session name");
                }
                if (requireExisting || !replaceSame) {
                    old.lastUsed = System.nanoTime();
                    return null;
                }
                // Ring: every host of the ring must take part, so the session is encoded again.
                sessions.remove(id);
            }
            if (requireExisting) {
                throw error(Status.NOT_FOUND, "session " + id + " does not exist on this host (it expired, was released,"
                        + " or the host restarted); run without --reuse to encode the context again");
            }
            if (memoryBudget > 0) {
                long used = 0;
                for (Session s : sessions.values()) used += s.ready ? s.host.kvBytes() : s.reservedBytes;
                if (used + need > memoryBudget) {
                    throw error(Status.RESOURCE_EXHAUSTED, "session " + id + " needs " + need + " bytes of KV for "
                            + tokens + " tokens but the host's memory budget of " + memoryBudget + " bytes has "
                            + Math.max(0, memoryBudget - used) + " free (" + sessions.size()
                            + " session(s) hold " + used + "); release sessions or raise --memory-budget");
                }
            }
            // A client may keep its session for less than the host's time to live, never for more: the
            // budget is shared, and a client that died must not hold its share for a time of its choosing.
            long ttl = ttlMs > 0 ? Math.min(TimeUnit.MILLISECONDS.toNanos(ttlMs), defaultTtl.toNanos()) : defaultTtl.toNanos();
            int chunk = prefillChunk > 0 ? prefillChunk : 1024;
            // The block cache keys include the KV types (as in process): blocks of different types never mix.
            Session s = new Session(id, hash, new LocalContextHost(id, model.model(), chunk, kvTypeK, kvTypeV, blockCache),
                    kvTypeK, kvTypeV, ttl, need);
            s.inFlight = 1;
            sessions.put(id, s);
            return s;
        }
    }

    private static String types(KvType k, KvType v) {
        return k == v ? k.cliName() : k.cliName() + " (keys) / " + v.cliName() + " (values)";
    }

    /** What a reused session answers phase 1 with: what its encode reported, with no work done now. */
    EncodeDone reusedDone(String id) {
        synchronized (sessions) {
            Session s = sessions.get(id);
            EncodeDone d = s != null && s.done != null ? s.done : EncodeDone.getDefaultInstance();
            return d.toBuilder().setReused(true).setPhase1Nanos(0).setLinearFlops(0).setAttentionFlops(0).build();
        }
    }

    /** Marks a freshly encoded session (star or ring) ready; fails when it was released meanwhile. */
    void publish(Session s, EncodeDone done) {
        synchronized (sessions) {
            if (sessions.get(s.id) != s) throw new CancellationException("session " + s.id + " was released while it was encoded");
            s.ready = true;
            s.done = done;
            s.inFlight = 0;
            s.reservedBytes = s.host.kvBytes();
            s.lastUsed = System.nanoTime();
        }
        encodeCalls.incrementAndGet();
    }

    /** Drops a session whose phase 1 failed (unless another request replaced it meanwhile). */
    void discard(Session s) {
        synchronized (sessions) {
            sessions.remove(s.id, s);
        }
    }

    /** Frees a session on request; the one freed, or null when there was none. */
    Session remove(String id) {
        synchronized (sessions) {
            return sessions.remove(id);
        }
    }

    /** The request's session, marked in use; NOT_FOUND when it is not (or not yet) there. */
    Session acquire(String sessionId) {
        synchronized (sessions) {
            Session s = sessions.get(sessionId);
            if (s == null || !s.ready) {
                throw error(Status.NOT_FOUND, "session " + sessionId + " does not exist on this host"
                        + " (it expired, was released, or the host restarted)");
            }
            s.inFlight++;
            s.lastUsed = System.nanoTime();
            s.orphanedAt = 0;
            return s;
        }
    }

    void release(Session s) {
        synchronized (sessions) {
            s.inFlight--;
            s.lastUsed = System.nanoTime();
        }
    }

    /** The phase-2 stream that used session {@code id} broke: the session goes a grace from now unless used again. */
    void orphan(String id) {
        synchronized (sessions) {
            Session s = sessions.get(id);
            if (s != null) s.orphanedAt = System.nanoTime();
        }
    }

    /** Frees sessions unused for longer than their time to live, and those whose client's phase-2 stream broke a grace ago. */
    void reap(long now) {
        List<String> expired = new ArrayList<>(), orphaned = new ArrayList<>();
        synchronized (sessions) {
            var it = sessions.values().iterator();
            while (it.hasNext()) {
                Session s = it.next();
                if (!s.ready || s.inFlight != 0) continue;
                if (now - s.lastUsed > s.ttlNanos) {
                    it.remove();
                    expired.add(s.id);
                } else if (s.orphanedAt != 0 && now - s.orphanedAt > streamGraceNanos) {
                    it.remove();
                    orphaned.add(s.id);
                }
            }
        }
        for (String id : expired) log.accept("session " + id + " expired (unused for its time to live); its KV is freed");
        for (String id : orphaned) {
            log.accept("session " + id + " released: its client's phase-2 stream broke and it was not used again within "
                    + seconds(streamGraceNanos) + "; its KV is freed");
        }
    }

    private static String seconds(long nanos) {
        long ms = TimeUnit.NANOSECONDS.toMillis(nanos);
        return ms % 1000 == 0 ? (ms / 1000) + " s" : String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0);
    }

    void clear() {
        synchronized (sessions) {
            sessions.clear();
        }
    }
}
