package dev.adder.core;

import java.nio.ByteBuffer;

/**
 * Turns a byte stream, fed in pieces of any size, into requests.
 *
 * <p>The transport may split or merge frames anywhere, so each call to
 * {@link #decode} hands every request completed by the bytes fed so far to
 * the sink, in order, and keeps the bytes of an unfinished request (at most
 * 15) for the next call. It allocates nothing after construction.
 *
 * <p>Not thread-safe: one decoder belongs to one connection.
 */
public final class RequestDecoder {

    /** Receives decoded requests. */
    @FunctionalInterface
    public interface Sink {
        /** Called once per complete request, in stream order. */
        void request(long x, long y);
    }

    private final ByteBuffer partial =
            ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);

    /** A decoder at the start of a stream, holding no bytes. */
    public RequestDecoder() {
    }

    /**
     * Consumes every remaining byte of {@code in} and hands each request they
     * complete to {@code sink}.
     *
     * @return the number of requests handed to the sink
     */
    public int decode(ByteBuffer in, Sink sink) {
        int requests = 0;
        if (partial.position() > 0) {
            while (partial.hasRemaining() && in.hasRemaining()) {
                partial.put(in.get());
            }
            if (partial.hasRemaining()) {
                return 0;
            }
            partial.flip();
            sink.request(partial.getLong(), partial.getLong());
            partial.clear();
            requests++;
        }
        while (in.remaining() >= Protocol.REQUEST_BYTES) {
            sink.request(Protocol.getLong(in), Protocol.getLong(in));
            requests++;
        }
        partial.put(in);
        return requests;
    }

    /** Bytes of an unfinished request held since the last complete one: 0 to 15. */
    public int pendingBytes() {
        return partial.position();
    }

    /** Forgets the bytes of an unfinished request. */
    public void reset() {
        partial.clear();
    }
}
