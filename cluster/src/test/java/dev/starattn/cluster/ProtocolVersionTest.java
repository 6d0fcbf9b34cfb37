package dev.starattn.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.starattn.cluster.proto.Block;
import dev.starattn.cluster.proto.ContextHostServiceGrpc;
import dev.starattn.cluster.proto.EncodeRequest;
import dev.starattn.cluster.proto.InfoReply;
import dev.starattn.cluster.proto.InfoRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;

/** Client and host of different wire protocols refuse each other in one sentence instead of misreading a call. */
class ProtocolVersionTest extends ClusterFixture {
    @Test
    void aHostRefusesAnEncodeFromAnOlderClient() {
        HostServer s = host();
        ManagedChannel ch = ManagedChannelBuilder.forTarget(addr(s)).usePlaintext().build();
        toClose.add(ch::shutdownNow);
        var stub = ContextHostServiceGrpc.newBlockingStub(ch);
        assertEquals(HostServer.PROTOCOL, stub.info(InfoRequest.getDefaultInstance()).getProtocol());
        // An older client sends no protocol field.
        EncodeRequest old = EncodeRequest.newBuilder().setSessionId("s").setContentHash("h")
                .addBlocks(Block.newBuilder().addTokens(1).addPositions(0)).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> stub.encode(old).forEachRemaining(p -> {}));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("speaks protocol " + HostServer.PROTOCOL)
                && e.getStatus().getDescription().contains("older"), e.getStatus().getDescription());
    }

    @Test
    void aClientRefusesAnOlderHost() {
        InfoReply old = InfoReply.newBuilder().setFingerprint("f").setVersion("starattn 0.1.0").build();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Cluster.checkProtocol("10.0.0.1:7101", old));
        assertTrue(e.getMessage().contains("10.0.0.1:7101") && e.getMessage().contains("protocol 1 or older"), e.getMessage());
        Cluster.checkProtocol("10.0.0.1:7101", old.toBuilder().setProtocol(HostServer.PROTOCOL).build());
    }
}
