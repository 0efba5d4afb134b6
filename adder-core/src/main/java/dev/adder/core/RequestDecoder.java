package dev.adder.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
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
        /**
         * Called once per complete request, in stream order.
         *
         * @param x the first operand
         * @param y the second operand
         */
        void request(long x, long y);
    }

    private static final VarHandle LONG_IN_BYTES =
            MethodHandles.byteArrayViewVarHandle(long[].class, Protocol.BYTE_ORDER);

    /** The bytes of an unfinished request: a plain array, the cheapest state a connection can hold. */
    private final byte[] partial = new byte[Protocol.REQUEST_BYTES];
    private int partialBytes;

    /** A decoder at the start of a stream, holding no bytes. */
    public RequestDecoder() {
    }

    /**
     * Consumes every remaining byte of {@code in} and hands each request they
     * complete to {@code sink}.
     *
     * @return the number of requests handed to the sink
     * @param in the bytes read, from its position to its limit
     * @param sink told of each request, in order
     */
    public int decode(ByteBuffer in, Sink sink) {
        int requests = 0;
        if (partialBytes > 0) {
            int take = Math.min(Protocol.REQUEST_BYTES - partialBytes, in.remaining());
            in.get(partial, partialBytes, take);
            partialBytes += take;
            if (partialBytes < Protocol.REQUEST_BYTES) {
                return 0;
            }
            sink.request((long) LONG_IN_BYTES.get(partial, 0), (long) LONG_IN_BYTES.get(partial, 8));
            partialBytes = 0;
            requests++;
        }
        while (in.remaining() >= Protocol.REQUEST_BYTES) {
            sink.request(Protocol.getLong(in), Protocol.getLong(in));
            requests++;
        }
        partialBytes = in.remaining();
        in.get(partial, 0, partialBytes);
        return requests;
    }

    /**
     * Bytes of an unfinished request held since the last complete one: 0 to 15.
     *
     * @return the number of bytes held
     */
    public int pendingBytes() {
        return partialBytes;
    }
}
