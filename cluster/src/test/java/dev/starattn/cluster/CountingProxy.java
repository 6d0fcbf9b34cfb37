package dev.starattn.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP relay on loopback that counts every byte crossing it in each direction: what gRPC really
 * puts on the socket (HTTP/2 frames, headers, flow control, pings, the gRPC length prefix and the
 * protobuf tags), as opposed to the payload sizes the hosts report. Test use only.
 */
final class CountingProxy implements AutoCloseable {
    private final ServerSocket server;
    private final int targetPort;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    /** Client to host, and host to client. */
    final AtomicLong up = new AtomicLong(), down = new AtomicLong();

    CountingProxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::accept);
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    private void accept() {
        try {
            while (true) {
                Socket client = server.accept();
                Socket host = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                client.setTcpNoDelay(true);
                host.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(host);
                Thread.ofVirtual().start(() -> pump(client, host, up));
                Thread.ofVirtual().start(() -> pump(host, client, down));
            }
        } catch (IOException closed) {
            // the proxy was closed
        }
    }

    private static void pump(Socket from, Socket to, AtomicLong counter) {
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            for (int n; (n = in.read(buf)) > 0; ) {
                counter.addAndGet(n);
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException closed) {
            // either side went away; closing the other ends the opposite pump
        } finally {
            try {
                to.close();
                from.close();
            } catch (IOException ignored) {
                // already closed
            }
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : sockets) s.close();
    }
}
