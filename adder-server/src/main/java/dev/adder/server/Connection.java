package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.RequestDecoder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One client's state, owned by the event loop thread. Between requests it
 * holds at most 15 bytes of an unfinished request; it holds answers of its
 * own only while its client reads more slowly than it asks.
 */
final class Connection {

    /** Pending output above this capacity is released once drained, not kept for reuse. */
    private static final int KEPT_PENDING_CAPACITY = 64 * 1024;
    private static final int MIN_PENDING_CAPACITY = 4 * 1024;

    final long id;
    final SocketChannel channel;
    final AdderAddress listener;
    final RequestDecoder decoder = new RequestDecoder();
    SelectionKey key;
    long lastActiveNanos;
    /** The client shut down its output: answer what it sent, then close. */
    boolean inputClosed;
    /** The server is stopping: take no new requests, flush, then close. */
    boolean draining;
    /** Too many answers wait for the client: requests are not read until they drain. */
    boolean readPaused;

    /** Answers not yet written, in write mode (position = bytes held); null until first needed. */
    private ByteBuffer pending;

    Connection(long id, SocketChannel channel, AdderAddress listener, long nowNanos) {
        this.id = id;
        this.channel = channel;
        this.listener = listener;
        this.lastActiveNanos = nowNanos;
    }

    int pendingBytes() {
        return pending == null ? 0 : pending.position();
    }

    /** Keeps the rest of {@code answers} to be written after what is already pending. */
    void keepPending(ByteBuffer answers) {
        int needed = pendingBytes() + answers.remaining();
        if (pending == null || pending.capacity() < needed) {
            int capacity = Math.max(MIN_PENDING_CAPACITY, pending == null ? 0 : pending.capacity());
            while (capacity < needed) {
                capacity *= 2;
            }
            ByteBuffer grown = ByteBuffer.allocate(capacity);
            if (pending != null) {
                grown.put(pending.flip());
            }
            pending = grown;
        }
        pending.put(answers);
    }

    /** Writes as much pending output as the socket takes; returns the bytes written. */
    int writePending() throws IOException {
        if (pendingBytes() == 0) {
            return 0;
        }
        pending.flip();
        int written = channel.write(pending);
        pending.compact();
        if (pending.position() == 0 && pending.capacity() > KEPT_PENDING_CAPACITY) {
            pending = null;
        }
        return written;
    }

    @Override
    public String toString() {
        return "connection #" + id + " on " + listener;
    }
}
