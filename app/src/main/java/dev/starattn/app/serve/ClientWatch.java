package dev.starattn.app.serve;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.BufferUtil;

/**
 * Notices that the client of a non-streaming request closed its connection. Jetty reads a
 * connection again only after the answer is written, so a client that hangs up while its
 * answer is computed is seen by reading the connection here (the body has been read whole by
 * then): end of stream means it left. A byte of a next pipelined request is left unread by
 * Jetty then, so the connection is closed after the answer.
 */
final class ClientWatch {
    private final EndPoint endPoint;
    private long nextCheck;
    private boolean gone, readAhead;

    ClientWatch(Request req) {
        this.endPoint = req.getConnectionMetaData().getConnection().getEndPoint();
    }

    synchronized boolean gone() {
        if (gone || readAhead) return gone;
        long now = System.nanoTime();
        if (now - nextCheck < 0) return false;
        nextCheck = now + Admission.POLL_NANOS;
        try {
            ByteBuffer b = BufferUtil.allocate(1);
            int n = endPoint.fill(b);
            if (n < 0 || !endPoint.isOpen()) gone = true;
            else if (n > 0) readAhead = true;
        } catch (IOException e) {
            gone = true;
        }
        return gone;
    }

    synchronized boolean readAhead() {
        return readAhead;
    }
}
