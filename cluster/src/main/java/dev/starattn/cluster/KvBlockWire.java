package dev.starattn.cluster;

import static dev.starattn.cluster.RequestDecoding.ints;
import static dev.starattn.cluster.RequestDecoding.kvType;

import dev.starattn.attention.KvCache;
import dev.starattn.attention.KvType;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.PassKvRequest;
import dev.starattn.cluster.proto.Ring;
import dev.starattn.cluster.proto.Wire;
import dev.starattn.model.DecoderConfig;

/**
 * Ring phase 1: one KV block as a {@code PassKv} request and back. f32 blocks travel as values on
 * the ring's wire (f32 or bf16) with their positions; blocks stored in another type travel as
 * stored, so the successor holds the same rows.
 */
final class KvBlockWire {
    private KvBlockWire() {}

    /** The request that passes {@code block} (of the given layer, ring step and origin host) to the successor. */
    static PassKvRequest toRequest(EncodeRequest encode, int layer, int step, int origin, KvCache block, Wire wire) {
        return toRequest(encode.getSessionId(), encode.getRing().getRingId(), layer, step, origin, block, wire);
    }

    /** The request that passes {@code block} under run {@code runId} (a ring's, or a star-pass run's). */
    static PassKvRequest toRequest(String sessionId, String runId, int layer, int step, int origin, KvCache block, Wire wire) {
        int rows = block.size();
        PassKvRequest.Builder b = PassKvRequest.newBuilder()
                .setSessionId(sessionId).setRingId(runId)
                .setLayer(layer).setStep(step).setOrigin(origin).setRows(rows).setWire(wire);
        if (block.keyType() != KvType.F32 || block.valueType() != KvType.F32) {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(
                    (int) KvCache.serializedBytes(block.kvHeads(), block.headDim(), block.keyType(), block.valueType(), rows));
            block.save(buf);
            b.setKTypeValue(block.keyType().id).setVTypeValue(block.valueType().id)
                    .setStored(com.google.protobuf.UnsafeByteOperations.unsafeWrap(buf.array()));
        } else {
            b.setK(WireCodec.encode(block.keysF32(0, rows), wire)).setV(WireCodec.encode(block.valuesF32(0, rows), wire));
            int[] pos = block.positions();
            for (int i = 0; i < rows; i++) b.addPositions(pos[i]);
        }
        return b.build();
    }

    /** The block a {@code PassKv} request carries, checked against the model. */
    static KvCache fromRequest(PassKvRequest req, DecoderConfig c) {
        if (req.getLayer() < 0 || req.getLayer() >= c.layers()) {
            throw new IllegalArgumentException("layer " + req.getLayer() + " does not exist (the model has " + c.layers() + ")");
        }
        int rows = req.getRows();
        if (req.getRingId().isEmpty()) throw new IllegalArgumentException("a KV block needs a ring id");
        KvCache block;
        if (!req.getStored().isEmpty()) {
            KvType kt = kvType(req.getKTypeValue(), "keys"), vt = kvType(req.getVTypeValue(), "values");
            long want = rows < 0 ? -1 : KvCache.serializedBytes(c.kvHeads(), c.headDim(), kt, vt, rows);
            if (want != req.getStored().size()) {
                throw new IllegalArgumentException("a stored KV block of " + rows + " rows (" + kt.cliName() + "/" + vt.cliName()
                        + ") holds " + req.getStored().size() + " bytes, expected " + want);
            }
            block = KvCache.load(req.getStored().asReadOnlyByteBuffer(), c.kvHeads(), c.headDim(), kt, vt, rows);
        } else {
            if (rows < 0 || req.getPositionsCount() != rows) throw new IllegalArgumentException(rows + " KV rows with " + req.getPositionsCount() + " positions");
            int kvDim = c.kvHeads() * c.headDim();
            float[] k = WireCodec.decode(req.getK(), req.getWire(), rows * kvDim, "the keys");
            float[] v = WireCodec.decode(req.getV(), req.getWire(), rows * kvDim, "the values");
            block = new KvCache(c.kvHeads(), c.headDim(), Math.max(1, rows));
            block.append(k, v, 0, rows, ints(req.getPositionsList()), 0);
        }
        return block;
    }
}
