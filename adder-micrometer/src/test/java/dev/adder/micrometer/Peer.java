package dev.adder.micrometer;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * A stand-in server for the client's failures: one that never accepts (its
 * backlog completes the client's connect, and no answer ever comes), or one
 * that drops its first connection once it has read a request and answers on
 * the next ones.
 */
final class Peer implements AutoCloseable {

    private final ServerSocketChannel listener;
    private final Thread thread;

    private Peer(ServerSocketChannel listener, boolean answers) {
        this.listener = listener;
        this.thread = answers ? new Thread(this::dropFirstThenAnswer, "peer") : null;
        if (thread != null) {
            thread.setDaemon(true);
            thread.start();
        }
    }

    /** Never accepts. */
    static Peer silent(Transport transport, Path dir) throws IOException {
        return new Peer(listen(transport, dir), false);
    }

    /** Drops its first connection after its first request, answers on the next. */
    static Peer dropsFirst(Transport transport, Path dir) throws IOException {
        return new Peer(listen(transport, dir), true);
    }

    private static ServerSocketChannel listen(Transport transport, Path dir) throws IOException {
        return transport == Transport.UNIX
                ? ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(dir.resolve("peer.sock")))
                : ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
    }

    AdderAddress address() throws IOException {
        return AdderAddress.of(listener.getLocalAddress());
    }

    private void dropFirstThenAnswer() {
        try {
            try (SocketChannel first = listener.accept()) {
                readFully(first, ByteBuffer.allocate(Protocol.REQUEST_BYTES));
            }
            while (true) {
                try (SocketChannel next = listener.accept()) {
                    ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
                    while (readFully(next, request.clear())) {
                        ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
                        answer.putLong(request.getLong(0) + request.getLong(8)).flip();
                        while (answer.hasRemaining()) {
                            next.write(answer);
                        }
                    }
                }
            }
        } catch (IOException e) {
            // closed: the test is over
        }
    }

    private static boolean readFully(SocketChannel channel, ByteBuffer into) throws IOException {
        while (into.hasRemaining()) {
            if (channel.read(into) < 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() throws IOException {
        listener.close();
        if (thread != null) {
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
