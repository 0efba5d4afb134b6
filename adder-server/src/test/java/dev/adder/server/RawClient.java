package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TestTls;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.function.LongConsumer;

/** A blocking test client that speaks raw frames, so tests control every byte. */
final class RawClient implements AutoCloseable {

    final SocketChannel channel;
    private final ByteBuffer response = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);

    private RawClient(SocketChannel channel) {
        this.channel = channel;
    }

    /** A client of {@code address}; of a {@code tls:} one, through TLS ({@link TlsSocketChannel}), trusting the test CA. */
    static RawClient connect(AdderAddress address) throws IOException {
        SocketChannel channel = SocketChannel.open(address.toSocketAddress());
        if (!address.isUnix()) {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        return wrap(channel, address);
    }

    /** A client over a channel the test connected itself, with options of its choosing. */
    static RawClient wrap(SocketChannel channel) {
        return new RawClient(channel);
    }

    /** A client over a channel the test connected itself to {@code address}: through TLS if it is a {@code tls:} one. */
    static RawClient wrap(SocketChannel channel, AdderAddress address) throws IOException {
        if (!address.isTls()) {
            return new RawClient(channel);
        }
        try {
            return new RawClient(TlsSocketChannel.over(channel, TestTls.trustingCa(), address.host()));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    static byte[] request(long x, long y) {
        ByteBuffer buffer = ByteBuffer.allocate(Protocol.REQUEST_BYTES);
        Protocol.encodeRequest(buffer, x, y);
        return buffer.array();
    }

    static byte[] requests(long[] xs, long[] ys) {
        ByteBuffer buffer = ByteBuffer.allocate(xs.length * Protocol.REQUEST_BYTES);
        for (int i = 0; i < xs.length; i++) {
            Protocol.encodeRequest(buffer, xs[i], ys[i]);
        }
        return buffer.array();
    }

    void write(byte[] bytes) throws IOException {
        write(bytes, 0, bytes.length);
    }

    void write(byte[] bytes, int offset, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(bytes, offset, length);
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /**
     * Pipelines requests {@code (i, 1)} without end and never reads an
     * answer: a client that never reads. Returns once the socket is closed
     * (by the test, or by the server).
     */
    void pipelineWithoutReading() {
        ByteBuffer batch = ByteBuffer.allocate(1024 * Protocol.REQUEST_BYTES);
        for (int i = 0; i < 1024; i++) {
            Protocol.encodeRequest(batch, i, 1);
        }
        try {
            while (true) {
                batch.flip();
                while (batch.hasRemaining()) {
                    channel.write(batch);
                }
                batch.limit(batch.capacity());
            }
        } catch (IOException closed) {
            // the end this client waits for
        }
    }

    /** Reads one response; throws {@link EOFException} if the server closed first. */
    long read() throws IOException {
        response.clear();
        while (response.hasRemaining()) {
            if (channel.read(response) < 0) {
                throw new EOFException("server closed the connection after " + response.position()
                        + " bytes of a response");
            }
        }
        response.flip();
        return Protocol.decodeResponse(response);
    }

    /**
     * Reads {@code count} responses, many to a read call (a call each would
     * take seconds for a million), and hands each to {@code answers} in order;
     * throws {@link EOFException} if the server closed first.
     */
    void read(long count, LongConsumer answers) throws IOException {
        int most = 8192;
        ByteBuffer bulk = ByteBuffer.allocate(most * Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
        for (long left = count; left > 0; ) {
            int batch = (int) Math.min(left, most);
            bulk.clear().limit(batch * Protocol.RESPONSE_BYTES);
            while (bulk.hasRemaining()) {
                if (channel.read(bulk) < 0) {
                    throw new EOFException("server closed the connection with " + left + " responses to come");
                }
            }
            bulk.flip();
            for (int i = 0; i < batch; i++) {
                answers.accept(Protocol.decodeResponse(bulk));
            }
            left -= batch;
        }
    }

    long add(long x, long y) throws IOException {
        write(request(x, y));
        return read();
    }

    /** Whether the server closed the stream: the next read gives end of stream (or a reset). */
    boolean readsEndOfStream() throws IOException {
        try {
            return channel.read(ByteBuffer.allocate(1)) < 0;
        } catch (IOException reset) {
            return true;
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
