package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.RequestDecoder;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One client's state, owned by the event loop thread. Between requests it
 * holds at most 15 bytes of an unfinished request; it holds answers of its
 * own only while its client reads more slowly than it asks.
 */
final class Connection {

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

    /** Answers not yet written, because the client reads more slowly than it asks. */
    final OutputBuffer pending = new OutputBuffer();

    Connection(long id, SocketChannel channel, AdderAddress listener, long nowNanos) {
        this.id = id;
        this.channel = channel;
        this.listener = listener;
        this.lastActiveNanos = nowNanos;
    }

    long pendingBytes() {
        return pending.size();
    }

    @Override
    public String toString() {
        return "connection #" + id + " on " + listener;
    }
}
