package dev.adder.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.SelectionKey;

/**
 * What a {@link Connection} needs of its socket: a small interface, so that a
 * test drives a connection through an in-memory channel, and a TLS session
 * fits in where a plain socket does. Interest is expressed as
 * {@link SelectionKey} operation bits. Reads and writes move plain bytes: a
 * write returns how many it took, even if (under TLS) some of them are still
 * held, as records, until the socket takes them.
 */
interface ConnectionChannel extends GatheringByteChannel {

    /** Reads what is there into {@code into}; -1 at end of stream, 0 if nothing is there now. */
    int read(ByteBuffer into) throws IOException;

    /** The least room {@code into} must have for a read: TLS decrypts whole records; a plain socket needs 1 byte. */
    default int smallestRead() {
        return 1;
    }

    /** Bytes of output it took and has not sent: TLS records the socket did not take. A plain socket holds none. */
    default int heldBytes() {
        return 0;
    }

    /**
     * Whether the stream has ended though the last read gave bytes: TLS reads a close_notify that came
     * with the last requests, and no readiness will come to say so again. A plain socket says it with -1.
     */
    default boolean inputEnded() {
        return false;
    }

    /** Whether it is still in a TLS handshake: its own deadline applies then, not the idle timeout. */
    default boolean inHandshake() {
        return false;
    }

    /** Sends what it holds ({@link #heldBytes()}), as much as the socket takes; returns whether anything went. */
    default boolean flushHeld() throws IOException {
        return false;
    }

    /** Ends the stream towards the client; reading stays possible. */
    void shutdownOutput() throws IOException;

    /** Closes without throwing: a failure to close is logged, never the caller's concern. */
    @Override
    void close();

    /** It is registered with the loop's selector under {@code key}; a channel no selector holds (a test's) ignores it. */
    default void registeredAs(SelectionKey key) {
    }

    /** Which readiness to be told about: {@code OP_READ}, {@code OP_WRITE}, both or neither. */
    void interest(int ops);

    /**
     * Acknowledges received bytes at once rather than after the delayed-ACK
     * timer: a TCP detail, nothing elsewhere.
     */
    void acknowledgeAtOnce();
}
