package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A server whose every connection follows a script the test writes: a
 * misbehaving server, a slow one, one that never reads. The n-th connection
 * (from 0) is handed to {@code script.serve(n, channel)} on a thread of its own.
 */
final class ScriptedServer implements AutoCloseable {

    @FunctionalInterface
    interface Script {
        void serve(int connection, SocketChannel channel) throws Exception;
    }

    private final ServerSocketChannel listener;
    private final AdderAddress address;
    private final List<Thread> threads = new ArrayList<>();
    private final List<SocketChannel> accepted = new ArrayList<>();
    final AtomicInteger connections = new AtomicInteger();

    ScriptedServer(Transport transport, Path dir, Script script) throws IOException {
        this(transport == Transport.UNIX ? AdderAddress.unix(dir.resolve("scripted.sock")) : AdderAddress.tcp("127.0.0.1", 0),
                script);
    }

    /**
     * A server at {@code listen}: a socket file, or a TCP port (0 picks one), which a server
     * closed a moment ago may have held: so a test can bring a server back at the same address.
     */
    ScriptedServer(AdderAddress listen, Script script) throws IOException {
        if (listen.isUnix()) {
            listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            listener.bind(UnixDomainSocketAddress.of(listen.unixPath()));
            address = listen;
        } else {
            listener = ServerSocketChannel.open();
            listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            listener.bind(new InetSocketAddress(listen.host(), listen.port()));
            address = AdderAddress.tcp(listen.host(), ((InetSocketAddress) listener.getLocalAddress()).getPort());
        }
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    SocketChannel channel = listener.accept();
                    int n = connections.getAndIncrement();
                    synchronized (accepted) {
                        accepted.add(channel);
                    }
                    Thread serving = new Thread(() -> {
                        try {
                            script.serve(n, channel);
                        } catch (Exception e) {
                            // the script ended: the client went away, or the test closed the server
                        }
                    }, "scripted-" + n);
                    serving.setDaemon(true);
                    serving.start();
                }
            } catch (IOException closed) {
                // the listener was closed
            }
        }, "scripted-acceptor");
        acceptor.setDaemon(true);
        acceptor.start();
        threads.add(acceptor);
    }

    AdderAddress address() {
        return address;
    }

    /** Reads exactly {@code count} requests; returns them as (x, y) pairs. */
    static long[][] readRequests(SocketChannel channel, int count) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(count * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        while (in.hasRemaining()) {
            if (channel.read(in) < 0) {
                throw new IOException("the client closed after " + in.position() + " bytes");
            }
        }
        in.flip();
        long[][] requests = new long[count][];
        for (int i = 0; i < count; i++) {
            requests[i] = new long[] {in.getLong(), in.getLong()};
        }
        return requests;
    }

    /** Writes the true answer to each request. */
    static void answer(SocketChannel channel, long[][] requests) throws IOException {
        ByteBuffer out = ByteBuffer.allocate(requests.length * Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
        for (long[] request : requests) {
            out.putLong(request[0] + request[1]);
        }
        out.flip();
        while (out.hasRemaining()) {
            channel.write(out);
        }
    }

    /** Reads every request and answers it right, until the client goes away. */
    static void serveAll(SocketChannel channel) throws IOException {
        ByteBuffer in = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
        ByteBuffer out = ByteBuffer.allocate(32 * 1024).order(Protocol.BYTE_ORDER);
        while (channel.read(in) >= 0) {
            in.flip();
            out.clear();
            answerWholeRequests(in, out);
            in.compact();
            out.flip();
            while (out.hasRemaining()) {
                channel.write(out);
            }
        }
    }

    /** Puts into {@code out} the answers to every whole request in {@code in} (read mode), leaving a partial one. */
    static void answerWholeRequests(ByteBuffer in, ByteBuffer out) {
        while (in.remaining() >= Protocol.REQUEST_BYTES) {
            out.putLong(in.getLong() + in.getLong());
        }
    }

    static void serveCorrectly(SocketChannel channel) throws IOException {
        while (true) {
            answer(channel, readRequests(channel, 1));
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        synchronized (accepted) {
            for (SocketChannel channel : accepted) {
                channel.close();
            }
        }
        if (address.isUnix()) {
            java.nio.file.Files.deleteIfExists(address.unixPath());
        }
    }
}
